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
        // Numbers take narrow columns (their headers wrap): on a phone the name, the rank, the
        // ranked metric and the fastest p50 fit the first screen side by side.
        maxWidth: i === 0 ? (narrow ? 110 : 170) : numeric ? (narrow ? 92 : 150) : narrow ? 130 : 260,
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

  // The page's state, one object for every part of it (the leaderboard's table, its chart and
  // the head-to-head view): each writes the whole query, so each must hold the others' keys.
  var shared = null;
  function pageState() {
    if (!shared || shared.path !== window.location.pathname) shared = { path: window.location.pathname, params: readState() };
    return shared.params;
  }

  // The ranking metric follows the reader from the leaderboard to the Steps page (and back).
  // Its filters too: the view is kept as a query string ("metric=..&model=..").
  var VIEW_KEY = "bench-board-view";
  function storedView() {
    try { return new URLSearchParams(window.localStorage.getItem(VIEW_KEY) || ""); } catch (e) { return new URLSearchParams(); }
  }
  function storeView(state) {
    var keep = new URLSearchParams();
    ["metric", "model", "family", "scheduler", "backend", "provider", "fits"].forEach(function (k) { if (state.get(k)) keep.set(k, state.get(k)); });
    try { window.localStorage.setItem(VIEW_KEY, keep.toString()); } catch (e) { /* storage off: the address still keeps it */ }
  }

  // What the leaderboard shows now: its ranking metric and the anchors of the rows its filters
  // keep (null: all). Its chart and head-to-head view draw from this.
  var boardView = { metric: null, keep: null, listeners: [] };
  function boardChanged() { boardView.listeners.forEach(function (f) { f(); }); }

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
    var state = keepState ? pageState() : new URLSearchParams();
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
      c.box = box;
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
    // Folded on a phone (the table first), open on a wider screen or when a filter is on.
    var more = form.querySelector("details.bench-more-filters");
    var moreLabel = more && more.querySelector("summary");
    if (more && (!narrow || fields.some(function (e) { return e.value; }))) more.open = true;

    function apply() {
      var want = {}, on = 0;
      fields.forEach(function (e) {
        if (e.value) state.set(e.name, e.value); else state.delete(e.name);
        want[e.name] = e.value;
        if (e.value) on += 1;
      });
      if (moreLabel) moreLabel.textContent = on ? "Filters (" + on + " on)" : "Filters";
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
      var kept = {};
      tab.getData("active").forEach(function (r) { if (r._id) kept["#" + r._id] = true; });
      boardView.keep = kept;
      boardChanged();
    }

    var metric = form.elements.metric;
    var sentence = wrapper.parentElement.querySelector(".bench-rank-sentence");
    // "Rank by" moves the metric's rank and mean next to the name and shows them; the metric
    // ranked before goes back to the column picker unless the reader picked it there.
    function rankBy(name, resort) {
      var before = boardView.metric;
      var picked = (state.get("cols") || "").split(",");
      var after = columns[0].field;
      columns.forEach(function (c) {
        if (c.bench.rankFor) tab.getColumn(c.field)[c.bench.rankFor === name ? "show" : "hide"]();
      });
      [byId(columns, "rank:" + name), byId(columns, name)].forEach(function (c) {
        if (!c) return;
        tab.moveColumn(c.field, after, true);
        tab.getColumn(c.field).show();
        after = c.field;
      });
      var old = before && before !== name ? byId(columns, before) : null;
      if (old && picked.indexOf(before) < 0) tab.getColumn(old.field).hide();
      columns.forEach(function (c) { if (c.box) c.box.checked = tab.getColumn(c.field).isVisible(); });
      var col = byId(columns, name);
      if (resort && col) tab.setSort(col.field, col.def.headerSortStartingDir);
      var option = metric.selectedOptions[0];
      if (sentence && option && option.dataset.sentence) sentence.textContent = option.dataset.sentence;
      state.set("metric", name);
      writeState(state);
      boardView.metric = name;
      boardChanged();
    }
    if (metric) {
      boardView.metric = metric.value;
      var wanted = state.get("metric");
      if (wanted && byId(columns, wanted) && wanted !== metric.value) {
        metric.value = wanted;
        rankBy(metric.value, !state.get("sort"));
      } else if (wanted) {
        rankBy(metric.value, false);
      }
      metric.addEventListener("change", function () { rankBy(metric.value, true); storeView(state); });
    }
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    form.addEventListener("input", function (event) { if (event.target !== metric) { apply(); storeView(state); } });
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
    document.querySelectorAll(".bench-vega[data-spec]").forEach(function (el) {
      if (!el.closest("[hidden]")) drawChart(el); // a hidden chart is drawn when it shows
    });
  }

  // The Pareto front of points (x: p50_s, y: quality): cheapest first, a point is on it when it
  // beats every cheaper point (stats.pareto_front, for the points the filters keep).
  function markFront(values, higher) {
    var sign = higher ? 1 : -1, best = -Infinity;
    values.slice().sort(function (a, b) { return a.p50_s - b.p50_s || sign * (b.quality - a.quality); })
      .forEach(function (v) { v.front = sign * v.quality > best; if (v.front) best = sign * v.quality; });
    return values;
  }

  // The leaderboard's chart for the ranking metric and the rows kept: the build's spec with its
  // data and its quality titles replaced (text: Vega draws titles as text).
  function boardSpec(el) {
    var spec = JSON.parse(el.dataset.spec);
    var metrics = JSON.parse(el.dataset.metrics);
    var name = boardView.metric && metrics[boardView.metric] ? boardView.metric : el.dataset.metric;
    var keep = boardView.keep;
    var values = JSON.parse(el.dataset.points).filter(function (p) {
      return (!keep || keep[p.anchor]) && p.q[name] && p.q[name][0] !== null;
    }).map(function (p) {
      return { model: p.model, scheduler: p.scheduler, backend: p.backend, p50_s: p.p50_s, anchor: p.anchor,
        quality: p.q[name][0], lo: p.q[name][1] === null ? p.q[name][0] : p.q[name][1],
        hi: p.q[name][2] === null ? p.q[name][0] : p.q[name][2] };
    });
    spec.data = { values: markFront(values, metrics[name].higher) };
    var title = metrics[name].title;
    spec.layer.forEach(function (layer) {
      var enc = layer.encoding;
      if (enc.y) enc.y.title = title;
      (enc.tooltip || []).forEach(function (t) { if (t.field === "quality") t.title = title; });
    });
    return spec;
  }

  function drawChart(el) {
    var dark = document.body.getAttribute("data-md-color-scheme") === "slate";
    var options = { actions: false, renderer: "svg", theme: dark ? "dark" : undefined };
    var spec = el.dataset.points ? boardSpec(el) : JSON.parse(el.dataset.spec);
    if (el.benchView) el.benchView.finalize(); // its listeners and timers go with it
    vegaEmbed(el, spec, options).then(function (result) {
      el.benchView = result;
      var fallback = el.nextElementSibling;
      if (fallback && fallback.classList.contains("bench-vega-fallback")) fallback.hidden = true;
      result.view.addEventListener("click", function (event, item) {
        if (item && item.datum && item.datum.anchor) window.location.hash = item.datum.anchor;
      });
    });
  }

  // Redraws wait for the burst of changes one reader's action makes (filters, then rank).
  function debounced(f) {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(f, 30); };
  }

  // --- head to head: two rows of the leaderboard, paired on their prompts and seeds ---------

  function el(tag, text, className) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = text;
    if (className) e.className = className;
    return e;
  }

  function signed(x, digits) { return (x > 0 ? "+" : x < 0 ? "−" : "") + Math.abs(x).toFixed(digits); }

  // The build's comparison of a and b (its pairs are stored one way round: flip the other).
  function versus(pairs, a, b) {
    var v = pairs[a + "~" + b];
    if (v) return { mean: v[0], lo: v[1], hi: v[2], p: v[3], win: v[4], prompts: v[5] };
    v = pairs[b + "~" + a];
    if (!v) return null;
    return { mean: -v[0], lo: -v[2], hi: -v[1], p: v[3], win: 1 - v[4], prompts: v[5] };
  }

  function headToHead(section) {
    var form = section.querySelector("form"), out = section.querySelector(".bench-h2h-result");
    var state = pageState(), data = null, root = section.dataset.json.replace(/[^/]*$/, "");
    section.hidden = false;
    var asked = (state.get("h2h") || "").split("~");
    if (asked.length === 2) { form.elements.a.value = asked[0]; form.elements.b.value = asked[1]; }

    function draw() {
      var a = form.elements.a.value, b = form.elements.b.value;
      if (a && b) state.set("h2h", a + "~" + b); else state.delete("h2h");
      writeState(state);
      out.replaceChildren();
      if (!a || !b || a === b) {
        if (a && a === b) out.append(el("p", "Pick two different rows.", "bench-note"));
        return;
      }
      var load = data ? Promise.resolve(data) : fetch(section.dataset.json).then(function (r) { return r.json(); });
      load.then(function (d) {
        data = d;
        render(d, a, b);
      });
    }

    function render(d, a, b) {
      out.replaceChildren();
      var names = Object.keys(d.metrics), chosen = document.querySelector("form.bench-filters select[name=metric]");
      var name = boardView.metric || (chosen && chosen.value);
      if (!d.metrics[name]) name = names[0];
      var info = d.metrics[name], A = d.sets[a], B = d.sets[b];
      var v = d.pairs[name] ? versus(d.pairs[name], a, b) : null;
      if (!A || !B || !v) {
        out.append(el("p", "These two rows share no prompt and seed: they cannot be paired.", "bench-note"));
        return;
      }
      var f = info.factor, digits = info.digits;
      var better = (info.higher ? v.mean > 0 : v.mean < 0) ? A.name : B.name;
      var significant = !(v.lo <= 0 && 0 <= v.hi);
      var head = el("p", null, "bench-h2h-answer");
      head.append(el("strong", A.name), " − ", el("strong", B.name), " on " + info.title + ": ",
        el("strong", signed(v.mean * f, digits)),
        " (95% interval " + signed(v.lo * f, digits) + " to " + signed(v.hi * f, digits) + "; p = " +
        (v.p < 0.001 ? "< 0.001" : v.p.toFixed(3)) + ", Holm-adjusted). ");
      head.append(significant ? better + " is better: the interval leaves out zero."
        : "They cannot be told apart: the interval holds zero.");
      var wins = el("p", A.name + " wins on " + Math.round(v.win * 100) + "% of the " + v.prompts + " prompts, " +
        B.name + " on " + Math.round((1 - v.win) * 100) + "% (" + (info.higher ? "higher" : "lower") +
        " mean over the prompt's seeds; ties count half).", "bench-note");
      out.append(head, wins);
      // Their pictures, prompt by prompt: the first seed of each, the same noise on both sides.
      var wrap = el("div", null, "bench-grid bench-h2h-grid");
      var tbl = el("table"), thead = el("thead"), tr = el("tr");
      tr.append(el("th", "Prompt"), el("th", A.name), el("th", B.name));
      thead.append(tr);
      var body = el("tbody");
      Object.keys(d.prompts).forEach(function (pid) {
        if (!A.images[pid] && !B.images[pid]) return;
        var row = el("tr"), th = el("th"), link = el("a", d.prompts[pid][0] || pid);
        link.href = root + d.prompts[pid][1];
        th.append(link);
        row.append(th);
        [A, B].forEach(function (s) {
          var td = el("td"), img = s.images[pid];
          if (img) {
            var a2 = el("a"), pic = el("img");
            a2.href = siteUrl(root, img[1]);
            pic.src = root + img[0];
            pic.alt = s.name + ": " + (d.prompts[pid][0] || pid);
            pic.loading = "lazy";
            a2.append(pic);
            td.append(a2);
          } else {
            td.append(el("span", "—", "bench-none"));
          }
          row.append(td);
        });
        body.append(row);
      });
      tbl.append(thead, body);
      wrap.append(tbl);
      out.append(wrap);
    }

    form.addEventListener("change", draw);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    // A row's ⇄ picks it: the first pick is A, the next B, then A again.
    document.addEventListener("click", function (event) {
      var pick = event.target.closest ? event.target.closest("button.bench-pick") : null;
      if (!pick) return;
      event.preventDefault();
      var a = form.elements.a, b = form.elements.b;
      if (!a.value || (a.value && b.value)) { a.value = pick.dataset.set; b.value = ""; } else { b.value = pick.dataset.set; }
      draw();
      if (a.value && b.value) section.scrollIntoView({ block: "start" });
    });
    boardView.listeners.push(function () { if (data) draw(); });
    if (form.elements.a.value && form.elements.b.value) {
      draw();
      if (asked.length === 2) setTimeout(function () { section.scrollIntoView({ block: "start" }); }, 0);
    }
  }

  // The Steps page: the leaderboard's "Rank by" and model and family filters. Each metric's
  // sections are built (hidden but one); a choice comes from the address, else from the
  // leaderboard's last view, and is kept in the address.
  function stepsPage(page) {
    var form = page.querySelector("form.bench-steps-filters");
    if (!form) return;
    form.hidden = false;
    var state = pageState(), stored = storedView(), fields = Array.from(form.elements).filter(function (e) { return e.name; });
    fields.forEach(function (e) {
      var want = state.get(e.name) || stored.get(e.name);
      if (want && Array.from(e.options).some(function (o) { return o.value === want; })) e.value = want;
    });
    function apply() {
      var want = {};
      fields.forEach(function (e) {
        want[e.name] = e.value;
        if (e.value) state.set(e.name, e.value); else state.delete(e.name);
      });
      writeState(state);
      page.querySelectorAll(".bench-steps-by").forEach(function (block) {
        var shown = !want.metric || block.dataset.metric === want.metric;
        var was = !block.hidden;
        block.hidden = !shown;
        block.querySelectorAll(".bench-steps-model").forEach(function (section) {
          section.hidden = (want.model && section.dataset.model !== want.model) ||
            (want.family && section.dataset.family !== want.family);
        });
        if (shown && !was) {
          // drawn (or laid out) while hidden, at no width: draw them again now that they show
          block.querySelectorAll(".bench-vega[data-spec]").forEach(drawChart);
          block.querySelectorAll(".bench-tabulator").forEach(function (box) {
            var tab = Tabulator.findTable(box)[0];
            if (tab) tab.redraw(true);
          });
        }
      });
    }
    form.addEventListener("change", apply);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    apply();
  }

  // A gallery or compare grid wider than its box: a line above it says how much is off-screen
  // (on a phone, eleven schedulers are 1,700 px wide); it goes when the grid fits.
  function scrollHints() {
    document.querySelectorAll(".bench-grid").forEach(function (grid) {
      var hint = grid.previousElementSibling && grid.previousElementSibling.classList.contains("bench-scroll-hint")
        ? grid.previousElementSibling : null;
      var over = grid.scrollWidth > grid.clientWidth + 4;
      if (!over) { if (hint) hint.remove(); return; }
      if (!hint) {
        hint = el("p", null, "bench-scroll-hint");
        grid.before(hint);
      }
      var shown = Math.round(100 * grid.clientWidth / grid.scrollWidth);
      hint.textContent = "⟷ Scroll sideways for more: " + shown + "% of this grid's width is on screen.";
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
    // The badge's metric: from the address, else the leaderboard's "Rank by" (its last view).
    var metric = form.elements.metric, firstMetric = metric ? metric.value : null;
    if (metric) {
      var want = state.get("metric") || storedView().get("metric");
      if (want && Array.from(metric.options).some(function (o) { return o.value === want; })) metric.value = want;
    }
    function badge(cell) { return metric && cell[4] && cell[4][metric.value] ? cell[4][metric.value] : cell[2]; }
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
        fig.querySelector("figcaption").textContent = diff ? badge(a) + " vs " + badge(b) : badge(a);
      });
      ["prompt", "seed", "backend"].forEach(function (name) { state.set(name, form.elements[name].value); });
      if (metric) state.set("metric", metric.value);
      writeState(state);
    }
    function update() { load(form.elements.prompt.value).then(draw); }
    form.addEventListener("change", function (event) {
      if (event.target.name === "prompt") state.delete("seed");
      else state.set("seed", form.elements.seed.value);
      update();
    });
    if (state.toString() || (metric && metric.value !== firstMetric)) update();
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
    document.documentElement.classList.add("bench-js"); // bench.css shows the controls that need this file
    document.querySelectorAll(".bench-board-chart").forEach(function (chart) {
      if (!chart.dataset.benchBound) { chart.dataset.benchBound = "1"; boardView.listeners.push(debounced(function () { drawChart(chart); })); }
    });
    drawCharts();
    document.querySelectorAll(".bench-steps").forEach(function (page) {
      if (!page.dataset.benchDone) { page.dataset.benchDone = "1"; stepsPage(page); }
    });
    document.querySelectorAll(".bench-h2h[data-json]").forEach(function (section) {
      if (!section.dataset.benchDone) { section.dataset.benchDone = "1"; headToHead(section); }
    });
    scrollHints();
    if (!init.watching) {
      init.watching = true;
      window.addEventListener("resize", debounced(scrollHints));
      window.addEventListener("load", scrollHints); // images sized: the grids' widths are known
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
