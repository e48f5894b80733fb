"""Deep links in the page: the URL follows the settings that matter as they change, opening such a URL
restores them (checked by `services.links`), and "Copy link" copies it. Also what the page shows on
opening (`handlers.first_screen`), since a link may choose the pair, the example and the layer."""
import json
from types import SimpleNamespace

import gradio as gr

from bnapp.services import links
from bnapp.services.state import ServerState, Session
from bnapp.system import zerogpu
from bnapp.ui import handlers as h

TAB_IDS = {"Compare": "compare", "Activations": "activations", "Test time": "testtime", "Train": "train"}

# Runs in the browser with the linked components' values; reads the selected tab from the page.
WRITE_URL = """(...values) => {
  const keys = %s, examples = %s, tabs = %s, pairs = %s;
  const url = new URL(window.location.href);
  for (const key of [...url.searchParams.keys()]) {  // a link's ignored settings do not travel on
    if (!keys.includes(key) && key !== "tab" && key !== "experiment") url.searchParams.delete(key);
  }
  keys.forEach((key, i) => {
    let value = values[i];
    if (key === "example") {
      const name = value && (value.orig_name || String(value.path || "").split("/").pop());
      value = examples.includes(name) ? name : null;
    }
    if (key === "pair" && !pairs.includes(value)) value = null;  // a session's own pair cannot travel
    if (value === null || value === undefined || value === "") url.searchParams.delete(key);
    else url.searchParams.set(key, String(value));
  });
  setTimeout(() => {
    const tab = document.querySelector('button[role="tab"][aria-selected="true"]');
    if (tab && tabs[tab.innerText.trim()]) url.searchParams.set("tab", tabs[tab.innerText.trim()]);
    history.replaceState(null, "", url);
  }, 300);
}"""
SET_EXPERIMENT = """() => { const url = new URL(window.location.href); %s; history.replaceState(null, "", url); }"""
COPY_LINK = """() => {
  const link = window.location.href;
  if (navigator.clipboard) navigator.clipboard.writeText(link).catch(() => {});
  return link;
}"""


def _linked(p: SimpleNamespace) -> list[tuple[str, gr.components.Component]]:
    a, tt, t = p.activations, p.test_time, p.train
    return [("pair", p.pair), ("example", p.compare.image), ("layer", a.layer), ("mode", a.mode), ("n", a.n_images),
            ("corruption", tt.corruption), ("severity", tt.severity), ("prior", tt.prior), ("arch", t.arch),
            ("recipe", t.recipe), ("optimizer", t.optimizer), ("placement", t.placement), ("epochs", t.epochs),
            ("batch", t.batch_size), ("lr", t.lr), ("images", t.train_subset), ("seed", t.seed), ("budget", t.budget)]


def wire(p: SimpleNamespace, state: ServerState, session: gr.State, on) -> None:
    """URL writing on every linked change and tab switch; restoring on load; the Copy link button."""
    linked = _linked(p)
    keys, components = [k for k, _ in linked], [c for _, c in linked]
    write = WRITE_URL % (json.dumps(keys), json.dumps([x.name for x in state.examples.paths]), json.dumps(TAB_IDS),
                         json.dumps(list(state.pairs)))
    for component in components:
        component.change(None, components, None, js=write, queue=False, api_name=False)
    p.tabs.select(None, components, None, js=write, queue=False, api_name=False)
    for key, accordion in p.train.experiments.items():
        accordion.expand(None, None, None, js=SET_EXPERIMENT % f'url.searchParams.set("experiment", "{key}")',
                         queue=False, api_name=False)
        accordion.collapse(None, None, None, js=SET_EXPERIMENT % 'url.searchParams.delete("experiment")',
                           queue=False, api_name=False)
    p.copy.click(None, None, [p.copied], js=COPY_LINK, queue=False, api_name=False)
    outputs = [p.tabs, p.pair, p.compare.image, *p.activations.outputs, p.train.curves,
               *components[3:], *p.train.experiments.values(), p.link_note]
    p.demo.load(zerogpu.gpu_task(on(open_page, state), 30), [p.pair, session], outputs, api_name=False)


def open_page(state: ServerState, pair_name: str, session: Session | None = None, request: gr.Request = None):
    """The first screen, with whatever a link in the URL asks for (each setting checked; dropped ones noted)."""
    link = links.parse(dict(request.query_params) if request is not None else {}, state)
    v = link.values
    pair = v.get("pair", pair_name)
    example = next((str(x) for x in state.examples.paths if x.name == v.get("example")), None)
    first = h.first_screen(state, pair, session, layer=v.get("layer"), mode=v.get("mode", "eval"), n=v.get("n"),
                           example=example)
    keep = gr.update()
    settings = [gr.update(value=v[k]) if k in v else keep for k in ("mode", "n", "corruption", "severity", "prior",
                                                                      "arch", "recipe", "optimizer", "placement",
                                                                      "epochs", "batch", "lr", "images", "seed",
                                                                      "budget")]
    open_experiments = [gr.Accordion(open=True) if v.get("experiment") == key else keep for key in links.EXPERIMENTS]
    return (gr.Tabs(selected=v["tab"]) if "tab" in v else keep, gr.update(value=pair) if "pair" in v else keep,
            *first, *settings, *open_experiments, link.note)
