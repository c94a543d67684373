/* bench-report: interactive tables (vendored Tabulator) and gallery lightboxes (GLightbox,
   shipped by mkdocs-glightbox); nothing is fetched from another host.

   Every table arrives as plain HTML (it is what readers without JavaScript and the search index
   see). Each cell carries its sort key in data-sort and each header its column id, direction
   and type, so this file only moves the table into Tabulator: one scroll box, a sticky header
   and first column, a column picker, missing values last both ways. The main leaderboard
   (data-url-state) also gets its filters, ranking metric and sort from and into the URL. */
(function () {
  "use strict";

  var narrow = window.matchMedia("(max-width: 600px)").matches; // a phone: narrower columns
  var VIRTUAL_ROWS = 300;

  // Tabulator puts a string that a title, tooltip or formatter returns into the page with
  // innerHTML, and table text is untrusted (a prompt, a model name): each returns a node whose
  // text is set as text, never a string.
  function tip(text) {
    if (!text) return ""; // no tooltip (false would show the word "false")
    var div = document.createElement("div"); // an element: Tabulator's tooltips take no text node
    div.textContent = text;
    return div;
  }

  // The cell as the build wrote it: copies of its nodes, never its HTML parsed again.
  function copyOf(td) {
    var part = document.createDocumentFragment();
    td.childNodes.forEach(function (node) { part.append(node.cloneNode(true)); });
    return part;
  }

  function columnsOf(table) {
    var tds = Array.from(table.tBodies[0].rows).map(function (tr) { return tr.cells; });
    return Array.from(table.tHead.rows[0].cells).map(function (th, i) {
      var numeric = th.dataset.sortMethod === "number";
      var title = th.textContent;
      var headerTip = th.title;
      return {
        title: title,
        titleFormatter: function () { return document.createTextNode(title); },
        field: "k" + i, // the sort key; the cell shows the build's cell (row _i, column i)
        formatter: function (cell) { return copyOf(tds[cell.getData()._i][i]); },
        sorter: numeric ? "number" : "string",
        sorterParams: { alignEmptyValues: "bottom" }, // "—" stays last whichever way
        headerSortStartingDir: th.hasAttribute("data-sort-reverse") ? "desc" : "asc",
        headerTooltip: headerTip ? function () { return tip(headerTip); } : false,
        tooltip: function (e, cell) { return tip(cell.getElement().textContent.trim()); },
        hozAlign: numeric ? "right" : "left",
        frozen: i === 0,
        headerWordWrap: true, // long metric names wrap: the quality column fits a phone
        maxWidth: narrow ? (i === 0 ? 110 : 130) : i === 0 ? 170 : 260,
        visible: !th.hasAttribute("data-hidden"),
      };
    });
  }

  // What Tabulator does not know about a column (it warns on unknown options): id, rank, default.
  function metaOf(table) {
    return Array.from(table.tHead.rows[0].cells).map(function (th) {
      return { id: th.dataset.col, rankFor: th.dataset.rankFor, isDefault: th.hasAttribute("data-sort-default") };
    });
  }

  function rowsOf(table, columns) {
    return Array.from(table.tBodies[0].rows).map(function (tr, r) {
      var row = { _i: r, _id: tr.id, _data: Object.assign({}, tr.dataset), _text: "" };
      Array.from(tr.cells).forEach(function (td, i) {
        var key = td.dataset.sort;
        var empty = key === undefined || key === "";
        row["k" + i] = empty ? null : columns[i].sorter === "number" ? parseFloat(key) : key.toLowerCase();
        row._text += " " + td.textContent.toLowerCase();
      });
      return row;
    });
  }

  // --- state in the URL: ?sort=col:dir&model=..&q=..&metric=..&cols=a,b -------------------

  function readState() { return new URLSearchParams(window.location.search); }

  function writeState(state) {
    var query = state.toString();
    history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  function byId(columns, id) {
    for (var i = 0; i < columns.length; i++) if (columns[i].bench.id === id) return columns[i];
    return null;
  }

  function enhance(wrapper) {
    var table = wrapper.querySelector("table");
    var defs = columnsOf(table), metas = metaOf(table);
    var columns = defs.map(function (d, i) { return { def: d, bench: metas[i], field: d.field }; });
    var rows = rowsOf(table, defs);
    var keepState = wrapper.hasAttribute("data-url-state");
    var state = keepState ? readState() : new URLSearchParams();
    var form = keepState && wrapper.previousElementSibling && wrapper.previousElementSibling.matches("form.bench-filters")
      ? wrapper.previousElementSibling : null;

    var sortCol = columns.filter(function (c) { return c.bench.isDefault; })[0];
    var sort = sortCol ? [{ column: sortCol.field, dir: sortCol.def.headerSortStartingDir }] : [];
    var asked = (state.get("sort") || "").split(":");
    if (byId(columns, asked[0])) sort = [{ column: byId(columns, asked[0]).field, dir: asked[1] === "asc" ? "asc" : "desc" }];
    if (state.get("cols")) {
      var shown = state.get("cols").split(",");
      columns.forEach(function (c, i) { c.def.visible = i === 0 || shown.indexOf(c.bench.id) >= 0; });
    }

    var box = document.createElement("div");
    box.className = "bench-tabulator";
    var caption = table.caption ? table.caption.textContent : "";
    table.replaceWith(box);
    if (caption) {
      var p = document.createElement("p");
      p.className = "bench-caption";
      p.textContent = caption;
      box.before(p);
    }
    var tab = new Tabulator(box, {
      data: rows, columns: defs, index: "_i", layout: "fitDataFill", maxHeight: "75vh",
      // Up to VIRTUAL_ROWS every row is in the DOM (find-in-page sees them all); past it only the
      // rows in view are: a 1,632-prompt index took 15 s to build whole, 2 s this way.
      initialSort: sort, renderVertical: rows.length > VIRTUAL_ROWS ? "virtual" : "basic",
      rowFormatter: function (row) { if (row.getData()._id) row.getElement().id = row.getData()._id; },
    });
    tab.on("tableBuilt", function () {
      picker(wrapper, tab, columns, state, keepState);
      if (form) filters(form, wrapper, tab, columns, state);
      if (keepState) {
        tab.on("dataSorted", function (sorters) {
          var col = sorters[0] && columns.filter(function (c) { return c.field === sorters[0].field; })[0];
          if (col) state.set("sort", col.bench.id + ":" + sorters[0].dir);
          writeState(state);
        });
      }
      // A row's anchor (#row-...), from the address or a click on the chart, scrolls to it.
      function focusRow() {
        var hash = decodeURIComponent(window.location.hash.slice(1));
        var target = rows.filter(function (r) { return r._id && r._id === hash; })[0];
        box.querySelectorAll(".bench-target").forEach(function (e) { e.classList.remove("bench-target"); });
        if (!target || !tab.getRow(target._i)) return;
        box.scrollIntoView({ block: "start" });
        tab.scrollToRow(target._i, "center", false);
        tab.getRow(target._i).getElement().classList.add("bench-target");
      }
      focusRow();
      window.addEventListener("hashchange", focusRow);
    });
  }

  function picker(wrapper, tab, columns, state, keepState) {
    var details = document.createElement("details");
    details.className = "bench-columns";
    details.innerHTML = "<summary>Columns</summary>";
    columns.slice(1).forEach(function (c) {
      if (c.bench.rankFor) return; // follows the ranking metric
      var label = document.createElement("label");
      var box = document.createElement("input");
      box.type = "checkbox";
      box.checked = c.def.visible;
      box.addEventListener("change", function () {
        tab.getColumn(c.field)[box.checked ? "show" : "hide"]();
        if (!keepState) return;
        state.set("cols", columns.filter(function (d, i) { return i > 0 && tab.getColumn(d.field).isVisible(); })
          .map(function (d) { return d.bench.id; }).join(","));
        writeState(state);
      });
      label.append(box, " " + c.def.title);
      details.append(label);
    });
    wrapper.prepend(details);
  }

  function filters(form, wrapper, tab, columns, state) {
    form.hidden = false;
    var count = document.createElement("p");
    count.className = "bench-count";
    wrapper.after(count);
    var fields = Array.from(form.elements).filter(function (e) { return e.name && e.name !== "metric"; });
    fields.forEach(function (e) { if (state.get(e.name)) e.value = state.get(e.name); });

    function apply() {
      var want = {};
      fields.forEach(function (e) {
        if (e.value) state.set(e.name, e.value); else state.delete(e.name);
        want[e.name] = e.value;
      });
      tab.setFilter(function (row) {
        return fields.every(function (e) {
          var w = want[e.name];
          if (!w) return true;
          if (e.name === "q") {
            return w.toLowerCase().split(/\s+/).every(function (word) { return row._text.indexOf(word) >= 0; });
          }
          // The row's values for this filter, a JSON list (html.filter_attr): one of them exactly,
          // never a word of one ("animals" is not "wild animals").
          return JSON.parse(row._data[e.name] || "[]").indexOf(w) >= 0;
        });
      });
      count.textContent = tab.getDataCount("active") + " of " + tab.getDataCount() + " rows shown";
      writeState(state);
    }

    var metric = form.elements.metric;
    function rankBy(name, resort) {
      columns.forEach(function (c) {
        if (c.bench.rankFor) tab.getColumn(c.field)[c.bench.rankFor === name ? "show" : "hide"]();
      });
      var col = byId(columns, name);
      if (resort && col) tab.setSort(col.field, col.def.headerSortStartingDir);
      state.set("metric", name);
      writeState(state);
    }
    if (metric) {
      if (state.get("metric") && byId(columns, state.get("metric"))) {
        metric.value = state.get("metric");
        rankBy(metric.value, !state.get("sort"));
      }
      metric.addEventListener("change", function () { rankBy(metric.value, true); });
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("input", function (event) { if (event.target !== metric) apply(); });
    apply();
  }

  // Images the NSFW metric flags carry data-nsfw (and a label): bench.css blurs them. The first
  // click (or Enter) on one only shows it; after that it opens as any other image does. A
  // capturing listener, so it runs before the lightbox's or the link's own.
  var NSFW_LABEL = "flagged NSFW: click to show";
  function veil(el) {
    el.setAttribute("data-nsfw", "");
    el.setAttribute("aria-label", NSFW_LABEL);
    el.title = NSFW_LABEL;
  }
  function unveil(event) {
    var el = event.target.closest ? event.target.closest("[data-nsfw]") : null;
    if (!el) return;
    if (event.type === "keydown" && (el.tagName === "A" || (event.key !== "Enter" && event.key !== " "))) return;
    event.preventDefault();
    event.stopPropagation();
    el.removeAttribute("data-nsfw");
    el.removeAttribute("aria-label");
    el.removeAttribute("title");
    if (el.getAttribute("role") === "button") { el.removeAttribute("role"); el.removeAttribute("tabindex"); }
  }

  // A gallery cell carries its slides as JSON (href, type, title, description), so a page with
  // thousands of images needs no hidden link per image. Title and description hold escaped
  // text: GLightbox inserts them with innerHTML. A flagged slide's image is veiled as its
  // thumbnail is (the slide says so in its description).
  function openGallery(event) {
    if (typeof GLightbox === "undefined") return; // no lightbox: the link opens the image itself
    event.preventDefault();
    var slides = JSON.parse(event.currentTarget.dataset.slides);
    var box = GLightbox({ elements: slides, touchNavigation: true, loop: false });
    box.on("slide_after_load", function (data) {
      var media = data.slideNode && data.slideNode.querySelector(".gslide-image");
      if (media && slides[data.slideIndex] && slides[data.slideIndex].nsfw) {
        veil(media);
        media.setAttribute("role", "button");
        media.tabIndex = 0;
      }
    });
    box.on("close", function () { setTimeout(function () { box.destroy(); }, 0); });
    box.open();
  }

  // Charts: a Vega-Lite spec from the build, drawn by the vendored vega-embed, redrawn when the
  // reader switches Material's light/dark palette; the static SVG beside it is for no-JS readers.
  function drawCharts() {
    if (typeof vegaEmbed === "undefined") return;
    var dark = document.body.getAttribute("data-md-color-scheme") === "slate";
    document.querySelectorAll(".bench-vega[data-spec]").forEach(function (el) {
      var options = { actions: false, renderer: "svg", theme: dark ? "dark" : undefined };
      vegaEmbed(el, JSON.parse(el.dataset.spec), options).then(function (result) {
        var fallback = el.nextElementSibling;
        if (fallback && fallback.classList.contains("bench-vega-fallback")) fallback.hidden = true;
        result.view.addEventListener("click", function (event, item) {
          if (item && item.datum && item.datum.anchor) window.location.hash = item.datum.anchor;
        });
      });
    });
  }

  // A site path from the page's root, or an absolute address (images on an external host).
  function siteUrl(root, path) { return /^https?:\/\//.test(path) ? path : root + path; }

  // The compare page: the grid of one prompt, seed and backend; each prompt's images come from
  // its own JSON file on this site. State in the URL (?prompt=&seed=&backend=).
  function compare(page) {
    var form = page.querySelector("form"), cache = {}, state = readState();
    var base = page.dataset.root + page.dataset.json + "/";
    ["prompt", "seed", "backend"].forEach(function (name) {
      if (state.get(name)) form.elements[name].value = state.get(name);
    });
    function load(slug) {
      if (!cache[slug]) cache[slug] = fetch(base + encodeURIComponent(slug) + ".json").then(function (r) { return r.json(); });
      return cache[slug];
    }
    function draw(data) {
      var seed = form.elements.seed, wanted = state.get("seed") || seed.value;
      seed.replaceChildren.apply(seed, data.seeds.map(function (s) { return new Option(s, s); }));
      seed.value = data.seeds.indexOf(wanted) >= 0 ? wanted : data.seeds[0];
      var mode = form.elements.backend.value.split(":"); // "pytorch", or "diff:pytorch:onnxruntime"
      var diff = mode[0] === "diff";
      page.querySelectorAll("td[data-key]").forEach(function (td) {
        var a = data.cells[seed.value + "|" + (diff ? mode[1] : mode[0]) + "|" + td.dataset.key];
        var b = diff ? data.cells[seed.value + "|" + mode[2] + "|" + td.dataset.key] : null;
        var fig = td.querySelector("figure");
        if (!a || (diff && !b)) {
          fig.innerHTML = '<span class="bench-none">—</span><figcaption class="bench-badge"></figcaption>';
          return;
        }
        fig.innerHTML = '<a><span class="bench-stack"><img class="bench-a"><img class="bench-b" alt=""></span></a><figcaption class="bench-badge"></figcaption>';
        fig.querySelector("a").href = siteUrl(page.dataset.root, diff ? b[1] : a[1]);
        if (a[3] || (diff && b[3])) veil(fig.querySelector("a")); // flagged NSFW: blurred until clicked
        var img = fig.querySelector(".bench-a");
        img.src = page.dataset.root + a[0];
        img.alt = td.dataset.key.replace("|", " / ") + ", seed " + seed.value + ", " + form.elements.backend.value;
        var top = fig.querySelector(".bench-b");
        top.hidden = !diff;
        if (diff) top.src = page.dataset.root + b[0];
        fig.querySelector("figcaption").textContent = diff ? a[2] + " vs " + b[2] : a[2];
      });
      ["prompt", "seed", "backend"].forEach(function (name) { state.set(name, form.elements[name].value); });
      writeState(state);
    }
    function update() { load(form.elements.prompt.value).then(draw); }
    form.addEventListener("change", function (event) {
      if (event.target.name === "prompt") state.delete("seed");
      else state.set("seed", form.elements.seed.value);
      update();
    });
    if (state.toString()) update();
  }

  // A model's page: each scheduler's wall shows its best images; "Show all" appends the rest
  // from the model's JSON (site paths from the root; text set as text, never as HTML).
  function moreImages(button) {
    button.parentElement.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      fetch(button.dataset.json).then(function (r) { return r.json(); }).then(function (walls) {
        var wall = button.parentElement.previousElementSibling, root = button.dataset.root;
        (walls[button.dataset.scheduler] || []).forEach(function (e) {
          var fig = document.createElement("figure"), a = document.createElement("a");
          var img = document.createElement("img"), cap = document.createElement("figcaption");
          a.href = root + e.u;
          img.src = root + e.t;
          img.alt = e.a;
          img.loading = "lazy";
          cap.textContent = e.c;
          if (e.n) veil(a); // flagged NSFW: blurred until clicked
          a.append(img);
          fig.append(a, cap);
          wall.append(fig);
        });
        button.parentElement.remove();
      });
    });
  }

  function init() {
    if (!init.veiling) {
      init.veiling = true;
      document.addEventListener("click", unveil, true);
      document.addEventListener("keydown", unveil, true);
    }
    document.querySelectorAll(".bench-more button[data-json]").forEach(function (button) {
      if (!button.dataset.benchBound) { button.dataset.benchBound = "1"; moreImages(button); }
    });
    document.querySelectorAll(".bench-compare").forEach(function (page) {
      if (!page.dataset.benchDone) { page.dataset.benchDone = "1"; compare(page); }
    });
    drawCharts();
    if (!init.watching) {
      init.watching = true;
      new MutationObserver(drawCharts).observe(document.body, { attributes: true, attributeFilter: ["data-md-color-scheme"] });
    }
    if (typeof Tabulator !== "undefined") {
      document.querySelectorAll(".bench-table").forEach(function (wrapper) {
        if (!wrapper.dataset.benchDone && wrapper.querySelector("table tbody")) {
          wrapper.dataset.benchDone = "1";
          enhance(wrapper);
        }
      });
    }
    document.querySelectorAll("a.bench-lightbox[data-slides]").forEach(function (link) {
      if (!link.dataset.benchBound) {
        link.dataset.benchBound = "1";
        link.addEventListener("click", openGallery);
      }
    });
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(init);
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
