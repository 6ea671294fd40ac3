// Run in JupyterLab by agency_dashboards.notebook.setup() (the pyviz extension evaluates it,
// as it does Panel's own loader). Two fixes to Panel's notebook client, applied as soon as
// Panel's JavaScript is there:
//
// 1. Panel's CommManager sends every change of the browser's document to the kernel, the
//    changes it has just applied from the kernel included. Bokeh marks those sync === false
//    and its own server session drops them; here they are dropped too. Echoed, they can
//    reach the kernel after it replaced the models they hold, and the kernel fails to
//    rebuild them: a traceback in the cell's output.
// 2. Panel names its components' stylesheets by CDN URL and inlines them only in a cell's
//    first render; a component updated later links the CDN again, which offline fails.
//    Such links point instead at the same files that Panel's Jupyter server extension
//    serves (panel_dist/), falling back to the CDN if the server does not answer.
(function (cdnDist) {
  "use strict";
  const COMM_MANAGER = "panel.models.comm_manager.CommManager";

  function jupyterBase() {
    const config = document.getElementById("jupyter-config-data");
    try {
      const base = config ? JSON.parse(config.textContent).baseUrl : null;
      return base ? (base.endsWith("/") ? base : base + "/") : "/";
    } catch (e) {
      return "/";
    }
  }
  const localDist = jupyterBase() + "panel_dist/";

  function dropEchoes(CommManager) {
    const forward = CommManager.prototype._document_changed;
    CommManager.prototype._document_changed = function (event) {
      if (event.sync === false) {
        return;
      }
      forward.call(this, event);
    };
  }

  function linkLocally(ImportedStyleSheet) {
    const underlying = ImportedStyleSheet.prototype.underlying;
    ImportedStyleSheet.prototype.underlying = function () {
      const sheet = underlying.call(this);
      const url = this.url;
      if (typeof url === "string" && url.startsWith(cdnDist)) {
        // the link is not in the page yet, so only the local file is requested
        sheet.replace(localDist + url.slice(cdnDist.length).split("?")[0]);
        sheet.el.addEventListener("error", () => sheet.replace(url), {once: true});
      }
      return sheet;
    };
  }

  function apply() {
    const Bokeh = window.Bokeh;
    if (Bokeh == null || Bokeh.Models == null) {
      return false;
    }
    const CommManager = Bokeh.Models.get(COMM_MANAGER);
    const ImportedStyleSheet = Bokeh.Models.get("ImportedStyleSheet");
    if (CommManager == null || ImportedStyleSheet == null) {
      return false;
    }
    if (!CommManager.prototype._agencyPatched) {
      dropEchoes(CommManager);
      linkLocally(ImportedStyleSheet);
      CommManager.prototype._agencyPatched = true;
    }
    return true;
  }

  if (!apply()) {
    let tries = 0;
    const timer = setInterval(() => {
      if (apply() || ++tries > 1200) {  // 30 s: Panel's loader gives up sooner
        clearInterval(timer);
      }
    }, 25);
  }
})(__CDN_DIST__);
