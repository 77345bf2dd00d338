// faceocc web page: send a photo to POST /v1/analyze?overlay=true and draw what comes back.
// No framework, no CDN: everything this page needs is served by faceocc itself.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const els = {
    drop: $("drop"), file: $("file"), status: $("status"), result: $("result"), canvas: $("canvas"),
    summary: $("summary"), faces: $("faces"), auto: $("auto-threshold"), threshold: $("threshold"),
    thresholdValue: $("threshold-value"), eyeglasses: $("eyeglasses"), heat: $("show-heat"), parts: $("show-parts"),
    keyRow: $("key-row"), key: $("api-key"),
  };
  const PART_LABELS = { right_eye: "right eye", left_eye: "left eye", nose: "nose", mouth: "mouth", chin: "chin" };
  const COLORS = { clear: "#1f9d55", occluded: "#d62839", unknown: "#8a8f99" };
  let current = { file: null, image: null, data: null, overlays: [] };
  let requestSeq = 0;

  function setStatus(text, isError) {
    els.status.textContent = text;
    els.status.classList.toggle("error", !!isError);
  }

  function verdictOf(face) {
    if (!face.assessable || face.occluded === null) return "unknown";
    return face.occluded ? "occluded" : "clear";
  }

  // the server decides (faceocc.policy.decide); the page only shows its decision
  function occluderOf(face) {
    if (!face.occluded || !face.occluder) return null;
    return [face.occluder, (face.occluders || {})[face.occluder] || 0];
  }

  function pct(v) { return v === null || v === undefined ? "–" : Math.round(v * 100) + "%"; }

  // ---- talking to the server ------------------------------------------------------------------
  async function loadInfo() {
    try {
      const r = await fetch("/ready");
      const info = await r.json();
      if (info.auth_required) {
        els.keyRow.hidden = false;
        els.key.value = sessionStorage.getItem("faceocc-key") || "";
      }
      if (typeof info.model_threshold === "number") {
        els.threshold.value = info.model_threshold;
        els.thresholdValue.textContent = Number(info.model_threshold).toFixed(2);
      }
    } catch (e) { /* the page still works; errors show on analysis */ }
  }

  async function analyze() {
    if (!current.file) return;
    const seq = ++requestSeq;
    const params = new URLSearchParams({ overlay: "true" });
    if (!els.auto.checked) params.set("threshold", els.threshold.value);
    if (els.eyeglasses.checked) params.set("eyeglasses_occlude", "true");
    const body = new FormData();
    body.append("file", current.file, current.file.name || "photo");
    const headers = {};
    if (els.key.value) { headers["X-API-Key"] = els.key.value; sessionStorage.setItem("faceocc-key", els.key.value); }
    els.result.dataset.state = "loading";
    setStatus("Analysing " + (current.file.name || "photo") + " …");
    const t0 = performance.now();
    let response, data;
    try {
      response = await fetch("/v1/analyze?" + params.toString(), { method: "POST", body, headers });
      data = await response.json();
    } catch (e) {
      if (seq !== requestSeq) return;
      els.result.dataset.state = "error";
      setStatus("Could not reach the faceocc server: " + e.message, true);
      return;
    }
    if (seq !== requestSeq) return; // a newer request superseded this one
    if (!response.ok) {
      els.result.dataset.state = "error";
      const err = (data && data.error) || { code: "http_" + response.status, message: response.statusText };
      setStatus("Error " + response.status + " (" + err.code + "): " + err.message, true);
      if (response.status === 401) els.keyRow.hidden = false;
      return;
    }
    current.data = data;
    current.overlays = await Promise.all(data.faces.map((f) => f.overlay ? loadImage(f.overlay.png) : Promise.resolve(null)));
    if (seq !== requestSeq) return;
    draw();
    render();
    els.result.dataset.state = "done";
    const ms = Math.round(performance.now() - t0);
    setStatus("Analysed " + (data.path || "photo") + " (" + data.width + "×" + data.height + ") in " + ms + " ms.");
  }

  function loadImage(src) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error("cannot display this image"));
      img.src = src;
    });
  }

  // ---- drawing ---------------------------------------------------------------------------------
  function draw() {
    const { image, data } = current;
    if (!image || !data) return;
    const c = els.canvas, ctx = c.getContext("2d");
    c.width = data.width; c.height = data.height;
    ctx.drawImage(image, 0, 0, data.width, data.height);
    const lw = Math.max(2, Math.round(Math.max(data.width, data.height) / 350));
    data.faces.forEach((face, i) => {
      const verdict = verdictOf(face);
      const ov = current.overlays[i];
      if (els.heat.checked && ov && face.overlay && verdict !== "unknown") {
        ctx.save();
        ctx.globalAlpha = verdict === "occluded" ? 0.9 : 0.55;
        ctx.imageSmoothingEnabled = true;
        ctx.drawImage(ov, face.overlay.x, face.overlay.y, face.overlay.width, face.overlay.height);
        ctx.restore();
      }
      if (els.parts.checked && face.covered_parts && verdict === "occluded") {
        ctx.save();
        ctx.setLineDash([lw * 2, lw * 1.5]);
        ctx.lineWidth = Math.max(1, lw * 0.75);
        ctx.strokeStyle = "#ffffff";
        ctx.fillStyle = "rgba(214, 40, 57, 0.18)";
        face.covered_parts.forEach((p) => {
          ctx.beginPath();
          p.polygon.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
          ctx.closePath();
          ctx.fill();
          ctx.stroke();
        });
        ctx.restore();
      }
      const [x1, y1, x2, y2] = face.box;
      ctx.lineWidth = lw;
      ctx.strokeStyle = COLORS[verdict];
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const occ = occluderOf(face);
      const label = (i + 1) + " " + (verdict === "occluded" ? "occluded" + (occ ? " · " + occ[0] : "") + " · " + pct(face.coverage)
        : verdict === "clear" ? "clear" : "not assessable");
      const fs = Math.max(12, Math.round(lw * 6.5));
      ctx.font = "600 " + fs + "px system-ui, sans-serif";
      const tw = ctx.measureText(label).width + fs * 0.6;
      const ty = y1 - fs * 1.35 >= 0 ? y1 - fs * 1.35 : y2;
      ctx.fillStyle = COLORS[verdict];
      ctx.fillRect(x1 - lw / 2, ty, tw, fs * 1.35);
      ctx.fillStyle = "#fff";
      ctx.textBaseline = "middle";
      ctx.fillText(label, x1 - lw / 2 + fs * 0.3, ty + fs * 0.68);
    });
  }

  // ---- the face cards --------------------------------------------------------------------------
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function render() {
    const { data } = current;
    els.faces.replaceChildren();
    const n = data.faces.length;
    const occluded = data.faces.filter((f) => verdictOf(f) === "occluded").length;
    const unknown = data.faces.filter((f) => verdictOf(f) === "unknown").length;
    els.summary.textContent = n === 0 ? "No face found in this photo."
      : n + (n === 1 ? " face: " : " faces: ") + occluded + " occluded, " + (n - occluded - unknown) + " clear"
        + (unknown ? ", " + unknown + " not assessable" : "") + ".";
    data.faces.forEach((face, i) => {
      const verdict = verdictOf(face);
      const li = el("li", "face " + verdict);
      li.dataset.verdict = verdict;
      const h = el("h3");
      h.append(el("span", "num", "Face " + (i + 1)),
        el("span", "verdict", verdict === "occluded" ? "Occluded — not usable" : verdict === "clear" ? "Clear — usable" : "Not assessable"));
      li.append(h);
      const dl = el("dl", "facts");
      const fact = (k, v) => { dl.append(el("dt", null, k), el("dd", null, v)); };
      if (verdict === "unknown") {
        fact("why", face.reason || "–");
      } else {
        const occ = occluderOf(face);
        fact("occluder", occ ? occ[0] + " (" + pct(occ[1]) + ")" : "none");
        fact("coverage", pct(face.coverage) + " of the inner face");
        fact("score", face.occlusion_score.toFixed(2));
        const covered = [face.upper ? "upper face" : null, face.lower ? "lower face" : null].filter(Boolean);
        if (covered.length) fact("where", covered.join(" and "));
        if (face.face_class === "eyeglasses") fact("note", "eyeglasses (not counted)");
      }
      li.append(dl);
      if (verdict !== "unknown") {
        const parts = el("div", "parts");
        Object.entries(face.parts).forEach(([name, v]) => {
          const bar = el("div", "bar" + (v >= 0.3 ? " hot" : ""));
          const fill = el("span");
          fill.style.width = Math.round(Math.min(1, Math.max(0, v)) * 100) + "%";
          bar.append(fill);
          parts.append(el("span", null, PART_LABELS[name] || name), bar, el("span", null, pct(v)));
        });
        li.append(parts);
      }
      if (face.advice && face.advice.length) {
        const ul = el("ul", "advice");
        face.advice.forEach((a) => ul.append(el("li", null, a)));
        li.append(ul);
      }
      els.faces.append(li);
    });
  }

  // ---- input -----------------------------------------------------------------------------------
  async function useFile(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      setStatus(file.name + " is not an image.", true);
      return;
    }
    current = { file, image: null, data: null, overlays: [] };
    try {
      current.image = await loadImage(URL.createObjectURL(file));
    } catch (e) {
      // the browser cannot show it (e.g. TIFF): still analyse it, drawing on a blank canvas
      current.image = null;
    }
    await analyze();
    if (!current.image && current.data) {
      const c = els.canvas;
      c.width = current.data.width; c.height = current.data.height;
      const ctx = c.getContext("2d");
      ctx.fillStyle = "#444"; ctx.fillRect(0, 0, c.width, c.height);
    }
  }

  els.file.addEventListener("change", () => useFile(els.file.files[0]));
  ["dragenter", "dragover"].forEach((t) => els.drop.addEventListener(t, (e) => { e.preventDefault(); els.drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => els.drop.addEventListener(t, (e) => { e.preventDefault(); els.drop.classList.remove("over"); }));
  els.drop.addEventListener("drop", (e) => useFile(e.dataTransfer.files[0]));
  els.drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); els.file.click(); } });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) useFile(e.dataTransfer.files[0]); });
  els.auto.addEventListener("change", () => { els.threshold.disabled = els.auto.checked; analyze(); });
  els.threshold.addEventListener("input", () => { els.thresholdValue.textContent = Number(els.threshold.value).toFixed(2); });
  els.threshold.addEventListener("change", analyze);
  els.eyeglasses.addEventListener("change", analyze);
  els.heat.addEventListener("change", draw);
  els.parts.addEventListener("change", draw);
  els.key.addEventListener("change", analyze);
  loadInfo();
})();
