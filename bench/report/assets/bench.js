/* bench-report: sortable tables (vendored tablesort) and gallery lightboxes (GLightbox, shipped
   by mkdocs-glightbox); nothing is fetched from another host.
   Material re-renders the page body on instant navigation and announces it on document$, so
   everything is (re)initialised there; elsewhere on DOMContentLoaded. */
(function () {
  // A gallery cell carries its slides as JSON (href, type, title, description), so a page with
  // thousands of images needs no hidden link per image. Title and description hold escaped
  // text: GLightbox inserts them with innerHTML.
  function openGallery(event) {
    if (typeof GLightbox === "undefined") return; // no lightbox: the link opens the image itself
    event.preventDefault();
    var box = GLightbox({ elements: JSON.parse(event.currentTarget.dataset.slides), touchNavigation: true, loop: false });
    box.on("close", function () { setTimeout(function () { box.destroy(); }, 0); });
    box.open();
  }

  function init() {
    document.querySelectorAll(".bench-table table").forEach(function (table) {
      if (!table.dataset.benchSortable) {
        table.dataset.benchSortable = "1";
        new Tablesort(table);
      }
    });
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
