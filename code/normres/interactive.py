"""Interactive figures that work in the built book with no network and no kernel.

A figure is one ``text/html`` output: a static PNG of its first view (drawn by matplotlib in the
book's style, so readers of the ``.ipynb`` file where scripts do not run still see the figure), the
data as JSON rounded to 4 significant digits, and a small inline script (about 9 kB, no library,
no CDN) that replaces the image with a live SVG or canvas drawing on load. Ids derive from a hash of
the content, so re-running a cell stores the same output (nbval compares it; the PNG inside is
compared with a pixel tolerance by tests/figures.py, and sanitized for nbval by tests/sanitize.cfg).

Why not a plotting library? Measured per figure (see the issue notes): plotly embeds its 4.8 MB
script inline in every notebook that shows a figure (or needs it copied into the site and loaded
from a page-level script, and stores random UUIDs); bokeh's inline resources weigh 1.3 MB and also
use random ids; matplotlib's ``to_jshtml`` stores every frame as a PNG (2.3 MB for 40 frames).
These figures send only their numbers: a few to a few tens of kB.

The API: call one function at the end of a cell; it returns an object that Jupyter displays.

``slider_curves(x, series, steps=..., ...)``
    Curves that change with a slider (and a play button): one set of curves per slider position,
    e.g. the percentiles of a layer's input at each training step, or gradient norms by layer for
    each model depth. ``series`` maps a label to an array of shape ``(n_steps, n_points)``; NaN
    leaves a gap (so curves of different lengths share one array). ``bands`` maps a label to a
    ``(low, high)`` pair of such arrays, drawn shaded. ``panels`` puts series in side-by-side axes.
    The y-range is fixed over all steps, so scrubbing shows drift; the first step stays as a
    faint dashed reference.

``surface(x, y, z, ...)``
    One or more 3-D surfaces ``z[i, j]`` over the grid ``(x[j], y[i])`` (``z`` an array of shape
    ``(len(y), len(x))`` or a dict title -> such arrays, drawn side by side on one shared z-scale),
    turned by dragging or with the azimuth and elevation sliders, all surfaces together.

Both take ``alt``: the text a screen reader reads for the figure (required: say what to see).
Examples::

    from normres.interactive import slider_curves, surface
    slider_curves(np.array([5, 50, 95]), {"without BN": q_none, "with BN": q_bn},
                  steps=steps, step_label="training step", xlabel="percentile",
                  ylabel="input of unit 0", alt="Percentiles of the unit's input ...")
    surface(alphas, betas, {"no skip": Z0, "skip": Z1}, xlabel="alpha", ylabel="beta",
            zlabel="loss", alt="Loss surfaces: the one without skips is rough ...")

A returned :class:`Figure` has ``.html`` (the output), ``.nbytes`` and ``.png`` (the fallback).
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import io
import json
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["Figure", "slider_curves", "surface"]

PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#000000", "#999999"]


def _round(values, digits: int = 4):
    """Nested lists of floats rounded to ``digits`` significant digits; NaN and inf become None.

    Rounding keeps the stored JSON short and the same on every CPU (the last bits of a float32
    computation may differ between machines; four digits do not).
    """
    def clean(v):
        if isinstance(v, list):
            return [clean(u) for u in v]
        v = float(v)
        return float(f"{v:.{digits}g}") if math.isfinite(v) else None
    return clean(np.asarray(values, dtype=float).tolist())


def _as_2d(name: str, value, n_steps: int, n_points: int) -> np.ndarray:
    arr = np.asarray(value, dtype=float)
    if arr.shape != (n_steps, n_points):
        raise ValueError(f"{name} must have shape (n_steps, n_points) = ({n_steps}, {n_points}), "
                         f"got {arr.shape}")
    return arr


class Figure:
    """An interactive figure: displays as HTML in Jupyter and in the book (see module docstring)."""

    def __init__(self, kind: str, spec: dict, png: bytes | None, alt: str):
        self.kind, self.spec, self.png, self.alt = kind, spec, png, alt
        payload = json.dumps(spec, separators=(",", ":"), sort_keys=True, allow_nan=False)
        digest = hashlib.sha1((kind + payload).encode()).hexdigest()[:12]
        self.id = f"nrfig-{digest}"
        alt_attr = _html.escape(alt, quote=True)
        safe_payload = payload.replace("</", "<\\/")
        img = ""
        if png is not None:
            img = (f'<img class="nrfig-fallback" alt="{alt_attr}" '
                   f'src="data:image/png;base64,{base64.b64encode(png).decode()}">')
        self.html = (
            f'<div class="nrfig" id="{self.id}" data-kind="{kind}" role="figure" aria-label="{alt_attr}">'
            f'{img}<script type="application/json" class="nrfig-data">'
            f'{safe_payload}</script>'
            f'<script>{_JS}\nnormresFigure("{self.id}");</script></div>'
        )

    @property
    def nbytes(self) -> int:
        """Bytes this figure adds to a notebook cell and to the book page."""
        return len(self.html.encode())

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"text/html": self.html, "text/plain": f"<interactive figure: {self.alt}>"}

    def __repr__(self) -> str:
        return f"Figure(kind={self.kind!r}, id={self.id!r}, nbytes={self.nbytes})"


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def slider_curves(x, series: Mapping[str, object], *, steps: Sequence, step_label: str = "step",
                  xlabel: str = "", ylabel: str = "", title: str = "", alt: str,
                  bands: Mapping[str, tuple] | None = None, panels: Mapping[str, str] | None = None,
                  colors: Mapping[str, str] | None = None, logx: bool = False, logy: bool = False,
                  ylim: tuple[float, float] | None = None, reference: bool = True,
                  initial: int = 0, markers: bool = False, fallback: bool = True) -> Figure:
    """Curves scrubbed by a slider: at slider position ``k`` series ``s`` is ``(x, series[s][k])``.

    Args:
        x: the shared x values, shape ``(n_points,)``.
        series: label -> array ``(n_steps, n_points)``; NaN entries leave gaps.
        steps: the ``n_steps`` slider values shown to the reader (numbers or strings).
        step_label: what the slider moves through, e.g. ``"training step"`` or ``"depth"``.
        bands: label -> ``(low, high)``, each ``(n_steps, n_points)``, shaded in the series' color.
        panels: label -> panel title; series with the same panel share axes (default: one axes).
        colors: label -> color (default: the Okabe-Ito palette).
        logx, logy: log-scaled axes (values must then be positive).
        ylim: fixed y-range (default: the range of all steps, so movement is visible).
        reference: draw step 0 as a faint dashed curve behind the current step.
        initial: the slider position shown first (and in the static fallback image).
        markers: draw points as well as lines (for few points, e.g. layers).
        alt: text alternative for screen readers; say what the reader should see.
        fallback: embed a PNG of the initial view for readers without scripts.
    """
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must be a non-empty text describing what the figure shows")
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (n_points,), got shape {x.shape}")
    steps = list(steps)
    n_steps, n_points = len(steps), len(x)
    if n_steps < 1 or not series:
        raise ValueError("need at least one step and one series")
    labels = list(series)
    data = {k: _as_2d(f"series[{k!r}]", v, n_steps, n_points) for k, v in series.items()}
    band_data = {}
    for k, (lo, hi) in (bands or {}).items():
        if k not in data:
            raise ValueError(f"bands[{k!r}] has no series of that label")
        band_data[k] = (_as_2d(f"bands[{k!r}][0]", lo, n_steps, n_points),
                        _as_2d(f"bands[{k!r}][1]", hi, n_steps, n_points))
    if not -n_steps <= initial < n_steps:
        raise ValueError(f"initial must index steps (0..{n_steps - 1}), got {initial}")
    initial %= n_steps
    panels = dict(panels or {})
    unknown = set(panels) - set(labels)
    if unknown:
        raise ValueError(f"panels names labels that are not series: {sorted(unknown)}")
    panel_titles = list(dict.fromkeys(panels.get(k, title) for k in labels))
    colors = {k: (colors or {}).get(k, PALETTE[i % len(PALETTE)]) for i, k in enumerate(labels)}
    everything = np.concatenate([a.ravel() for a in data.values()]
                                + [b.ravel() for pair in band_data.values() for b in pair])
    everything = everything[np.isfinite(everything) & ((everything > 0) if logy else True)]
    if ylim is None:
        lo, hi = (float(everything.min()), float(everything.max())) if everything.size else (0.0, 1.0)
        if logy:
            lo, hi = lo / 1.15, hi * 1.15
        else:
            pad = 0.05 * (hi - lo or 1.0)
            lo, hi = lo - pad, hi + pad
        ylim = (lo, hi)
    spec = {
        "x": _round(x), "steps": [s if isinstance(s, str) else _round(s) for s in steps],
        "stepLabel": step_label, "xlabel": xlabel, "ylabel": ylabel, "logx": bool(logx),
        "logy": bool(logy), "ylim": _round(ylim), "reference": bool(reference), "initial": initial,
        "markers": bool(markers), "panels": panel_titles,
        "series": [{"label": k, "color": colors[k], "panel": panel_titles.index(panels.get(k, title)),
                    "y": _round(data[k]),
                    **({"band": [_round(band_data[k][0]), _round(band_data[k][1])]} if k in band_data else {})}
                   for k in labels],
    }
    png = None
    if fallback:
        import matplotlib.pyplot as plt
        n = len(panel_titles)
        fig, axes = plt.subplots(1, n, figsize=(6.4 * min(n, 2) / (1 if n == 1 else 1.3), 3.6),
                                 squeeze=False, sharey=True)
        for k in labels:
            ax = axes[0, panel_titles.index(panels.get(k, title))]
            if k in band_data:
                ax.fill_between(x, band_data[k][0][initial], band_data[k][1][initial],
                                color=colors[k], alpha=0.2, lw=0)
            ax.plot(x, data[k][initial], color=colors[k], label=k, marker="o" if markers else None, ms=3)
        for i, ax in enumerate(axes[0]):
            ax.set_title(panel_titles[i])
            ax.set_xlabel(xlabel)
            ax.set_xscale("log" if logx else "linear")
            ax.set_yscale("log" if logy else "linear")
            ax.set_ylim(*ylim)
            ax.legend(fontsize=8)
        axes[0, 0].set_ylabel(ylabel)
        fig.suptitle(f"{step_label} = {steps[initial]} (static view; the book's figure has a slider)",
                     fontsize=9)
        fig.tight_layout()
        png = _png(fig)
    return Figure("curves", spec, png, alt)


def surface(x, y, z, *, xlabel: str = "x", ylabel: str = "y", zlabel: str = "z", alt: str,
            azim: float = -60.0, elev: float = 30.0, zlim: tuple[float, float] | None = None,
            cmap: str = "viridis", fallback: bool = True) -> Figure:
    """3-D surfaces a reader turns: ``z[i, j]`` is the height over ``(x[j], y[i])``.

    Args:
        x: shape ``(nx,)``; y: shape ``(ny,)``.
        z: array ``(ny, nx)``, or a dict title -> such arrays (drawn side by side, one z-scale).
        xlabel, ylabel, zlabel: axis names.
        azim, elev: the initial view in degrees (matplotlib's convention).
        zlim: z-range of the shared scale (default: min and max over all surfaces).
        cmap: a matplotlib colormap name for the height colors.
        alt: text alternative for screen readers; say what the reader should see.
        fallback: embed a PNG of the initial view for readers without scripts.
    """
    if not isinstance(alt, str) or not alt.strip():
        raise ValueError("alt must be a non-empty text describing what the figure shows")
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 1 or y.ndim != 1 or len(x) < 2 or len(y) < 2:
        raise ValueError(f"x and y must be 1-D with at least 2 points, got shapes {x.shape}, {y.shape}")
    surfaces = dict(z) if isinstance(z, Mapping) else {"": z}
    if not surfaces:
        raise ValueError("z must hold at least one surface")
    arrays = {}
    for k, v in surfaces.items():
        arr = np.asarray(v, dtype=float)
        if arr.shape != (len(y), len(x)):
            raise ValueError(f"z{'[' + repr(k) + ']' if k else ''} must have shape (len(y), len(x)) = "
                             f"({len(y)}, {len(x)}), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError("z must be finite (clip or mask diverged values first)")
        arrays[k] = arr
    if zlim is None:
        zlim = (min(float(a.min()) for a in arrays.values()), max(float(a.max()) for a in arrays.values()))
    import matplotlib
    colormap = matplotlib.colormaps[cmap]
    stops = [matplotlib.colors.to_hex(colormap(t)) for t in np.linspace(0, 1, 9)]
    spec = {"x": _round(x), "y": _round(y), "xlabel": xlabel, "ylabel": ylabel, "zlabel": zlabel,
            "zlim": _round(zlim), "azim": float(azim), "elev": float(elev), "stops": stops,
            "surfaces": [{"title": k, "z": _round(a)} for k, a in arrays.items()]}
    png = None
    if fallback:
        import matplotlib.pyplot as plt
        n = len(arrays)
        fig = plt.figure(figsize=(3.6 * n, 3.4))
        X, Y = np.meshgrid(x, y)
        for i, (k, a) in enumerate(arrays.items()):
            ax = fig.add_subplot(1, n, i + 1, projection="3d")
            ax.plot_surface(X, Y, np.clip(a, *zlim), cmap=cmap, vmin=zlim[0], vmax=zlim[1],
                            linewidth=0, antialiased=False)
            ax.set_zlim(*zlim)
            ax.view_init(elev=elev, azim=azim)
            ax.set_xlabel(xlabel, fontsize=8)
            ax.set_ylabel(ylabel, fontsize=8)
            ax.set_zlabel(zlabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_title(k, fontsize=10)
        fig.tight_layout()
        png = _png(fig)
    return Figure("surface", spec, png, alt)


# The renderer: defines window.normresFigure once per page; each figure's script calls it.
_JS = r"""
if(!window.normresFigure){(function(){
var NS="http://www.w3.org/2000/svg";
function el(tag,attrs,parent,ns){var e=ns?document.createElementNS(NS,tag):document.createElement(tag);
 for(var k in attrs){e.setAttribute(k,attrs[k]);} if(parent){parent.appendChild(e);} return e;}
function fmt(v){if(typeof v==="string")return v;var a=Math.abs(v);
 if(a!==0&&(a<1e-3||a>=1e5))return v.toExponential(1);return String(+v.toPrecision(4));}
function ticks(lo,hi,log){var t=[];if(log){for(var p=Math.floor(Math.log10(lo));p<=Math.ceil(Math.log10(hi));p++){
 var v=Math.pow(10,p);if(v>=lo*0.999&&v<=hi*1.001)t.push(v);}if(t.length<2){t=[lo,hi];}return t;}
 var span=hi-lo||1,step=Math.pow(10,Math.floor(Math.log10(span/5))),m=span/5/step;
 step*=m>5?10:m>2?5:m>1?2:1;for(var v2=Math.ceil(lo/step)*step;v2<=hi+1e-9*span;v2+=step)t.push(+v2.toPrecision(12));return t;}
function controls(root,label,n,init,onchange,names){
 var bar=el("div",{"class":"nrfig-controls"},root);bar.style.cssText="display:flex;align-items:center;gap:.6em;flex-wrap:wrap;margin:.3em 0;font-size:.9em";
 var play=el("button",{"type":"button","class":"nrfig-play","aria-label":"play "+label},bar);play.textContent="\u25B6";
 var lab=el("label",{},bar);lab.textContent=label+" ";
 var r=el("input",{"type":"range","min":"0","max":String(n-1),"step":"1","value":String(init),"aria-label":label},lab);
 r.style.verticalAlign="middle";var out=el("output",{"aria-live":"polite"},bar);
 function set(k){r.value=String(k);out.textContent=label+" = "+fmt(names[k]);onchange(k);}
 r.addEventListener("input",function(){set(+r.value);});
 var timer=null;play.addEventListener("click",function(){if(timer){clearInterval(timer);timer=null;play.textContent="\u25B6";return;}
  if(+r.value>=n-1)set(0);play.textContent="\u275A\u275A";timer=setInterval(function(){var k=+r.value+1;if(k>=n){clearInterval(timer);timer=null;play.textContent="\u25B6";return;}set(k);},120);});
 set(init);return r;}
function curves(root,s){
 var W=420,H=290,L=58,R=12,T=26,B=44,xs=s.x,n=s.steps.length;
 var wrap=el("div",{"class":"nrfig-panels"},root);wrap.style.cssText="display:flex;flex-wrap:wrap;gap:.5em";
 var fx=s.logx?Math.log10:function(v){return v;},fy=s.logy?Math.log10:function(v){return v;};
 var xv=xs.filter(function(v){return v!==null&&(!s.logx||v>0);}),xlo=Math.min.apply(null,xv),xhi=Math.max.apply(null,xv);
 if(xlo===xhi){xlo-=1;xhi+=1;}var ylo=s.ylim[0],yhi=s.ylim[1];
 function X(v){return L+(fx(v)-fx(xlo))/(fx(xhi)-fx(xlo))*(W-L-R);}
 function Y(v){return T+(1-(fy(v)-fy(ylo))/(fy(yhi)-fy(ylo)))*(H-T-B);}
 function ok(v){return v!==null&&(!s.logy||v>0);}
 function line(ys){var d="",pen=false;for(var i=0;i<xs.length;i++){if(!ok(ys[i])||xs[i]===null){pen=false;continue;}
  var yy=Math.max(-1e4,Math.min(1e4,Y(ys[i])));d+=(pen?"L":"M")+X(xs[i]).toFixed(1)+" "+yy.toFixed(1);pen=true;}return d||"M0 0";}
 function band(lo,hi){var a=[],b=[];for(var i=0;i<xs.length;i++){if(ok(lo[i])&&ok(hi[i])){a.push(X(xs[i]).toFixed(1)+" "+Y(lo[i]).toFixed(1));b.unshift(X(xs[i]).toFixed(1)+" "+Y(hi[i]).toFixed(1));}}
  return a.length?"M"+a.concat(b).join("L")+"Z":"M0 0";}
 var live=[];
 s.panels.forEach(function(title,p){
  var svg=el("svg",{"viewBox":"0 0 "+W+" "+H,"width":W,"height":H,"role":"img","aria-label":(title?title+": ":"")+s.ylabel+" against "+s.xlabel,"class":"nrfig-svg"},wrap,1);
  svg.style.cssText="max-width:100%;height:auto;background:#fff;color:#222;border-radius:4px";
  el("rect",{"x":L,"y":T,"width":W-L-R,"height":H-T-B,"fill":"none","stroke":"#888"},svg,1);
  ticks(xlo,xhi,s.logx).forEach(function(t){var g=el("text",{"x":X(t),"y":H-B+15,"text-anchor":"middle","font-size":"11","fill":"#222"},svg,1);g.textContent=fmt(t);
   el("line",{"x1":X(t),"x2":X(t),"y1":T,"y2":H-B,"stroke":"#ddd"},svg,1);});
  ticks(ylo,yhi,s.logy).forEach(function(t){var g=el("text",{"x":L-5,"y":Y(t)+4,"text-anchor":"end","font-size":"11","fill":"#222"},svg,1);g.textContent=fmt(t);
   el("line",{"x1":L,"x2":W-R,"y1":Y(t),"y2":Y(t),"stroke":"#ddd"},svg,1);});
  var xl=el("text",{"x":(L+W-R)/2,"y":H-8,"text-anchor":"middle","font-size":"12","fill":"#222"},svg,1);xl.textContent=s.xlabel;
  var yl=el("text",{"transform":"translate(14,"+((T+H-B)/2)+") rotate(-90)","text-anchor":"middle","font-size":"12","fill":"#222"},svg,1);yl.textContent=s.ylabel;
  if(title){var tt=el("text",{"x":(L+W-R)/2,"y":16,"text-anchor":"middle","font-size":"13","font-weight":"bold","fill":"#222"},svg,1);tt.textContent=title;}
  var clip="nrclip-"+root.id+"-"+p;var cp=el("clipPath",{"id":clip},el("defs",{},svg,1),1);el("rect",{"x":L,"y":T,"width":W-L-R,"height":H-T-B},cp,1);
  var g=el("g",{"clip-path":"url(#"+clip+")"},svg,1),ly=T+14;
  s.series.forEach(function(se){if(se.panel!==p)return;var o={se:se};
   if(se.band)o.band=el("path",{"fill":se.color,"fill-opacity":"0.18","stroke":"none"},g,1);
   if(s.reference)el("path",{"d":line(se.y[0]),"fill":"none","stroke":se.color,"stroke-opacity":"0.45","stroke-dasharray":"4 3","stroke-width":"1.2"},g,1);
   o.path=el("path",{"fill":"none","stroke":se.color,"stroke-width":"2","class":"nrfig-line"},g,1);
   if(s.markers)o.dots=el("g",{"fill":se.color},g,1);
   el("line",{"x1":W-R-120,"x2":W-R-100,"y1":ly-4,"y2":ly-4,"stroke":se.color,"stroke-width":"2"},svg,1);
   var lt=el("text",{"x":W-R-95,"y":ly,"font-size":"11","fill":"#222"},svg,1);lt.textContent=se.label;ly+=15;live.push(o);});
  if(s.reference){var rt=el("text",{"x":L+6,"y":T+14,"font-size":"10","fill":"#555"},svg,1);rt.textContent="dashed: "+s.stepLabel+" "+fmt(s.steps[0]);}
 });
 function draw(k){live.forEach(function(o){o.path.setAttribute("d",line(o.se.y[k]));
  if(o.band)o.band.setAttribute("d",band(o.se.band[0][k],o.se.band[1][k]));
  if(o.dots){while(o.dots.firstChild)o.dots.removeChild(o.dots.firstChild);o.se.y[k].forEach(function(v,i){if(ok(v)&&xs[i]!==null)el("circle",{"cx":X(xs[i]).toFixed(1),"cy":Y(v).toFixed(1),"r":"3"},o.dots,1);});}});}
 controls(root,s.stepLabel,n,s.initial,draw,s.steps);}
function surface(root,s){
 var az=s.azim,elv=s.elev,nx=s.x.length,ny=s.y.length,z0=s.zlim[0],z1=s.zlim[1];
 var wrap=el("div",{"class":"nrfig-panels"},root);wrap.style.cssText="display:flex;flex-wrap:wrap;gap:.5em";
 var size=Math.max(240,Math.min(380,Math.floor(((root.clientWidth||760)-20)/s.surfaces.length)));
 var cols=s.stops.map(function(h){return[parseInt(h.substr(1,2),16),parseInt(h.substr(3,2),16),parseInt(h.substr(5,2),16)];});
 function color(t,shade){t=Math.max(0,Math.min(1,t))*(cols.length-1);var i=Math.min(cols.length-2,Math.floor(t)),f=t-i,c=[0,1,2].map(function(j){return Math.round((cols[i][j]*(1-f)+cols[i+1][j]*f)*shade);});
  return "rgb("+c.join(",")+")";}
 function nrm(v,lo,hi){return hi>lo?2*(v-lo)/(hi-lo)-1:0;}
 var xlo=s.x[0],xhi=s.x[nx-1],ylo=s.y[0],yhi=s.y[ny-1];
 var views=s.surfaces.map(function(sf){
  var box=el("div",{},wrap);var c=el("canvas",{"width":size,"height":size,"role":"img","class":"nrfig-canvas","tabindex":"0",
   "aria-label":(sf.title?sf.title+": ":"")+s.zlabel+" over "+s.xlabel+" and "+s.ylabel+"; drag or use the arrow keys to turn"},box);
  c.style.cssText="background:#fff;border-radius:4px;touch-action:none;cursor:grab;max-width:100%";
  if(sf.title){var cap=el("div",{},box);cap.textContent=sf.title;cap.style.cssText="text-align:center;font-weight:bold";}
  return {c:c,sf:sf};});
 function draw(){var ca=Math.cos(az*Math.PI/180),sa=Math.sin(az*Math.PI/180),ce=Math.cos(elv*Math.PI/180),se=Math.sin(elv*Math.PI/180);
  function proj(px,py,pz){var u=-px*sa+py*ca,dep=px*ca*ce+py*sa*ce+pz*se,v=-(px*ca*se+py*sa*se)+pz*ce;return[u,v,dep];}
  views.forEach(function(vw){var ctx=vw.c.getContext("2d"),S=vw.c.width,sc=S/3.9,cx=S/2,cy=S/2+S*0.04;ctx.fillStyle="#fff";ctx.fillRect(0,0,S,S);
   var P=[],quads=[],zz=vw.sf.z;for(var i=0;i<ny;i++){P.push([]);for(var j=0;j<nx;j++){var zv=Math.max(z0,Math.min(z1,zz[i][j]));
    P[i].push(proj(nrm(s.x[j],xlo,xhi),nrm(s.y[i],ylo,yhi),0.8*nrm(zv,z0,z1)));}}
   for(i=0;i<ny-1;i++)for(j=0;j<nx-1;j++){var a=P[i][j],b=P[i][j+1],d=P[i+1][j+1],e=P[i+1][j];
    var h=(zz[i][j]+zz[i][j+1]+zz[i+1][j+1]+zz[i+1][j])/4;quads.push([(a[2]+b[2]+d[2]+e[2])/4,a,b,d,e,(h-z0)/((z1-z0)||1)]);}
   quads.sort(function(p,q){return p[0]-q[0];});
   var axes=[[[1.2,-1,-0.8],s.xlabel],[[-1,1.2,-0.8],s.ylabel],[[-1,-1,1.05],s.zlabel]],o=proj(-1,-1,-0.8);
   axes.forEach(function(a){var Bp=proj.apply(null,a[0]);ctx.strokeStyle="#555";ctx.lineWidth=1;ctx.beginPath();
    ctx.moveTo(cx+o[0]*sc,cy-o[1]*sc);ctx.lineTo(cx+Bp[0]*sc,cy-Bp[1]*sc);ctx.stroke();});
   quads.forEach(function(q){ctx.beginPath();ctx.moveTo(cx+q[1][0]*sc,cy-q[1][1]*sc);for(var k=2;k<5;k++)ctx.lineTo(cx+q[k][0]*sc,cy-q[k][1]*sc);ctx.closePath();
    ctx.fillStyle=color(q[5],0.75+0.25*se);ctx.fill();ctx.strokeStyle="rgba(0,0,0,0.18)";ctx.lineWidth=0.5;ctx.stroke();});
   ctx.font="12px sans-serif";ctx.textAlign="center";ctx.lineWidth=3;ctx.strokeStyle="#fff";ctx.fillStyle="#222";
   axes.forEach(function(a){var Bp=proj.apply(null,a[0]),tx=cx+Bp[0]*sc*1.08,ty=cy-Bp[1]*sc*1.08+4;ctx.strokeText(a[1],tx,ty);ctx.fillText(a[1],tx,ty);});
   ctx.fillStyle="#222";ctx.font="11px sans-serif";ctx.textAlign="left";ctx.fillText(s.zlabel+" "+fmt(z0)+" to "+fmt(z1),6,S-6);});}
 var bar=el("div",{"class":"nrfig-controls"},root);bar.style.cssText="display:flex;gap:1em;flex-wrap:wrap;font-size:.9em;margin:.3em 0";
 function slider(label,min,max,get,set){var lab=el("label",{},bar);lab.textContent=label+" ";var r=el("input",{"type":"range","min":String(min),"max":String(max),"step":"1","value":String(Math.round(get())),"aria-label":label+" in degrees"},lab);
  r.style.verticalAlign="middle";r.addEventListener("input",function(){set(+r.value);draw();});return r;}
 var ra=slider("azimuth",-180,180,function(){return az;},function(v){az=v;}),re=slider("elevation",0,90,function(){return elv;},function(v){elv=v;});
 var reset=el("button",{"type":"button"},bar);reset.textContent="reset view";reset.addEventListener("click",function(){az=s.azim;elv=s.elev;sync();draw();});
 function sync(){ra.value=String(Math.round(((az+540)%360)-180));re.value=String(Math.round(elv));}
 views.forEach(function(vw){var drag=null;vw.c.addEventListener("pointerdown",function(ev){drag=[ev.clientX,ev.clientY,az,elv];vw.c.setPointerCapture&&vw.c.setPointerCapture(ev.pointerId);});
  vw.c.addEventListener("pointermove",function(ev){if(!drag)return;az=drag[2]-(ev.clientX-drag[0])*0.5;elv=Math.max(0,Math.min(90,drag[3]+(ev.clientY-drag[1])*0.5));sync();draw();});
  vw.c.addEventListener("pointerup",function(){drag=null;});
  vw.c.addEventListener("keydown",function(ev){var d={ArrowLeft:[-5,0],ArrowRight:[5,0],ArrowUp:[0,5],ArrowDown:[0,-5]}[ev.key];if(!d)return;ev.preventDefault();
   az+=d[0];elv=Math.max(0,Math.min(90,elv+d[1]));sync();draw();});});
 draw();}
window.normresFigure=function(id){var root=document.getElementById(id);if(!root||root.getAttribute("data-ready"))return;
 var s=JSON.parse(root.querySelector("script.nrfig-data").textContent);root.setAttribute("data-ready","1");
 var img=root.querySelector("img.nrfig-fallback");if(img)img.style.display="none";
 ({curves:curves,surface:surface})[root.getAttribute("data-kind")](root,s);};
})();}
""".strip()
