"""Deep links in the page: the URL follows the settings that matter as they change, opening such a URL
restores them (checked by `services.links`), and "Copy link" copies it. Also what the page shows on
opening (`first_screen`), since a link may choose the pair, the example and the layer."""
import json
from types import SimpleNamespace

import gradio as gr

from bnapp.measure import stats
from bnapp.services import activations as act
from bnapp.services import links, prediction
from bnapp.services.state import ServerState, Session, get_pair
from bnapp.ui.events import bind
from bnapp.ui.tabs import activations, train

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
# A link's name for a Train setting, where it is not the setting's own (links already shared use these)
TRAIN_LINK_NAMES = {"batch_size": "batch", "train_subset": "images"}
FIRST_SCREEN = ("pair", "example", "layer")  # chosen by `first_screen`, not set as they are


def linked(p: SimpleNamespace) -> dict[str, gr.components.Component]:
    """Every setting a link carries, by its name in the URL (the names `services.links.checks` knows)."""
    a, tt = p.tabs["activations"], p.tabs["testtime"]
    train_settings = {TRAIN_LINK_NAMES.get(f, f): c for f, c in p.tabs["train"].settings.items() if f != "landscape"}
    return dict(pair=p.pair, example=p.tabs["compare"].image, layer=a.layer, mode=a.mode, n=a.n_images,
                corruption=tt.corruption, severity=tt.severity, prior=tt.prior, **train_settings)


def wire(p: SimpleNamespace, state: ServerState) -> None:
    """URL writing on every linked change and tab switch; restoring on load; the Copy link button."""
    components = linked(p)
    titles = {t.TITLE: tab_id for tab_id, t in p.tab_modules.items()}
    write = WRITE_URL % (json.dumps(list(components)), json.dumps([x.name for x in state.examples.paths]),
                         json.dumps(titles), json.dumps(list(state.pairs)))
    for component in components.values():
        component.change(None, list(components.values()), None, js=write, queue=False, api_name=False)
    p.tab_set.select(None, list(components.values()), None, js=write, queue=False, api_name=False)
    for key, accordion in p.tabs["train"].experiments.accordions.items():
        accordion.expand(None, None, None, js=SET_EXPERIMENT % f'url.searchParams.set("experiment", "{key}")',
                         queue=False, api_name=False)
        accordion.collapse(None, None, None, js=SET_EXPERIMENT % 'url.searchParams.delete("experiment")',
                           queue=False, api_name=False)
    p.copy.click(None, None, [p.copied], js=COPY_LINK, queue=False, api_name=False)

    def open_page(state: ServerState, pair_name: str, session: Session | None = None, request: gr.Request = None):
        """The first screen, with whatever a link in the URL asks for (each setting checked; dropped ones noted)."""
        accordions = p.tabs["train"].experiments.accordions
        link = links.parse(dict(request.query_params) if request is not None else {}, state,
                           tabs=list(p.tab_modules), experiments=list(accordions))
        v = link.values
        pair = v.get("pair", pair_name)
        example = next((str(x) for x in state.examples.paths if x.name == v.get("example")), None)
        out = first_screen(p, state, pair, session, layer=v.get("layer"), mode=v.get("mode", "eval"), n=v.get("n"),
                           example=example)
        out |= {c: v[k] for k, c in components.items() if k in v and k not in FIRST_SCREEN}
        out |= {accordion: gr.Accordion(open=True) for key, accordion in accordions.items()
                if v.get("experiment") == key}
        if "tab" in v:
            out[p.tab_set] = gr.Tabs(selected=v["tab"])
        if "pair" in v:
            out[p.pair] = v["pair"]
        return out | {p.link_note: link.note}

    outputs = [p.tab_set, p.link_note, p.tabs["train"].curves, *p.tabs["activations"].outputs,
               *components.values(), *p.tabs["train"].experiments.accordions.values()]
    outputs = list(dict.fromkeys(outputs))  # each once (the layer menu is both a link's setting and a view's output)
    p.demo.load(bind(open_page, state), [p.pair, p.session], outputs, api_name=False)


def first_screen(p: SimpleNamespace, state: ServerState, pair_name: str, session: Session | None = None,
                 layer: str | None = None, mode: str = "eval", n: int | None = None,
                 example: str | None = None) -> dict:
    """What each tab shows before anyone clicks: Compare an example the twins disagree on (a fixed rule) or the
    linked one, Activations its (linked or default) view, Train the pair's recorded curves. Nothing changes
    when no pair is loaded."""
    if pair_name not in state.pairs:
        return {}
    pair = get_pair(state, pair_name, session)
    example = example or prediction.first_disagreement(pair, state.examples)
    views = activations.activations(state, pair_name, act.SOURCES[0],
                                    n or stats.default_batch(pair.metadata["bn"]["arch"]), mode, layer, None, session)
    return {p.tabs["compare"].image: str(example) if example else None,
            **dict(zip(p.tabs["activations"].outputs, views)),
            p.tabs["train"].curves: train.recorded_curves(state, pair_name, session)}
