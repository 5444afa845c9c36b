// Consilium image viewer: studies → series; a series view with stack scrolling (wheel, arrow keys,
// Home/End, slider), window presets, drag-to-window with live feedback and typed centre/width,
// frame playback, and a metadata panel. Neighbouring images are fetched ahead so scrolling is
// smooth. Previews come from /l/{token}/documents/{id}/preview; nothing here talks to another host.
(function () {
  'use strict';
  var viewer = document.getElementById('viewer');
  if (!viewer) { return; }
  var base = window.location.pathname.replace(/\/case$/, '');
  var data = JSON.parse(document.getElementById('studies-data').textContent);
  var image = document.getElementById('viewer-image');
  var slider = document.getElementById('viewer-slider');
  var position = document.getElementById('viewer-position');
  var presetSelect = document.getElementById('viewer-preset');
  var centreInput = document.getElementById('viewer-wc');
  var widthInput = document.getElementById('viewer-ww');
  var play = document.getElementById('viewer-play');
  var meta = document.getElementById('viewer-meta');
  var title = document.getElementById('viewer-title');
  var PRESETS = { 'soft-tissue': [40, 400], lung: [-600, 1500], bone: [400, 1800], brain: [40, 80], abdomen: [60, 400] };
  var SIZE = 768;

  // window: an explicit [centre, width] chosen by drag or typing, else null (the preset applies).
  var state = { series: null, index: 0, frame: 0, preset: 'auto', window: null, timer: null, opener: null };

  function current() { return state.series.instances[state.index]; }

  // The window the image is shown with: explicit, the preset's, or the file's own (if it has one).
  function effectiveWindow(inst) {
    return state.window || PRESETS[state.preset] || (inst && inst.window) || null;
  }

  function previewUrl(inst, frame) {
    var url = base + '/documents/' + inst.document_id + '/preview?size=' + SIZE + '&frame=' + frame;
    if (state.window) {
      return url + '&wc=' + Math.round(state.window[0]) + '&ww=' + Math.max(1, Math.round(state.window[1]));
    }
    return url + '&preset=' + state.preset;
  }

  function text(node, value) { node.textContent = value === null || value === undefined ? '—' : String(value); }

  // Shows the current image, at most one new rendering per 100 ms (drag and fast scrolling would
  // otherwise ask for one per pixel moved); the last state always gets shown.
  var lastRender = 0, renderTimer = null;
  function render() {
    clearTimeout(renderTimer);
    var wait = 100 - (Date.now() - lastRender);
    if (wait > 0) { renderTimer = setTimeout(render, wait); return; }
    lastRender = Date.now();
    image.src = previewUrl(current(), state.frame);
  }
  image.addEventListener('load', prefetch);

  // Fetches the next and previous two images with the same window, so scrolling does not wait.
  function prefetch() {
    if (!state.series) { return; }
    [1, -1, 2, -2].forEach(function (d) {
      var inst = state.series.instances[state.index + d];
      if (inst && inst.previewable) { new Image().src = previewUrl(inst, 0); }
    });
  }

  function show() {
    var inst = current();
    render();
    var n = state.series.instances.length;
    image.alt = 'Image ' + (state.index + 1) + ' of ' + n +
      (inst.frames > 1 ? ', frame ' + (state.frame + 1) + ' of ' + inst.frames : '');
    slider.value = String(state.index);
    text(position, (state.index + 1) + ' / ' + n +
      (inst.frames > 1 ? ' · frame ' + (state.frame + 1) + ' / ' + inst.frames : ''));
    play.hidden = inst.frames <= 1;
    var w = effectiveWindow(inst);
    if (document.activeElement !== centreInput && document.activeElement !== widthInput) {
      centreInput.value = w ? String(Math.round(w[0])) : '';
      widthInput.value = w ? String(Math.round(w[1])) : '';
    }
    var rows = [
      ['Series', state.series.description], ['Modality', state.series.modality],
      ['Body part', state.series.body_part], ['Instance', inst.instance_number],
      ['Size', inst.columns && inst.rows ? inst.columns + ' × ' + inst.rows : null],
      ['Frames', inst.frames], ['Photometric', inst.photometric_interpretation],
      ['Transfer syntax', inst.transfer_syntax], ['File', inst.filename],
      ['Window', w ? Math.round(w[0]) + ' / ' + Math.round(w[1]) + (state.window ? '' : ' (' + presetSelect.selectedOptions[0].text + ')') : 'full range']
    ];
    meta.innerHTML = '';
    rows.forEach(function (r) {
      var dt = document.createElement('dt'); text(dt, r[0]);
      var dd = document.createElement('dd'); text(dd, r[1]);
      meta.appendChild(dt); meta.appendChild(dd);
    });
  }

  function goTo(index) {
    var n = state.series.instances.length;
    state.index = Math.min(n - 1, Math.max(0, index));
    state.frame = 0;
    show();
  }

  function open(series, opener) {
    stop();
    state.series = series;
    state.opener = opener;
    state.index = Math.floor(series.instances.length / 2);
    state.frame = 0;
    slider.max = String(series.instances.length - 1);
    text(title, (series.description || 'Series') + (series.modality ? ' (' + series.modality + ')' : ''));
    viewer.hidden = false;
    show();
    viewer.scrollIntoView({ block: 'start' });
    image.focus();
  }

  function close() {
    stop();
    viewer.hidden = true;
    if (state.opener) { state.opener.focus(); }
  }

  function stop() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; play.textContent = 'Play frames'; }
  }

  function setWindow(centre, width) {
    state.window = [centre, Math.max(1, width)];
    show();
  }

  document.querySelectorAll('[data-series]').forEach(function (button) {
    button.addEventListener('click', function () {
      var s = button.getAttribute('data-study'), i = button.getAttribute('data-series');
      open(data[Number(s)].series[Number(i)], button);
    });
  });

  slider.addEventListener('input', function () { goTo(Number(slider.value)); });
  image.addEventListener('wheel', function (e) { e.preventDefault(); goTo(state.index + (e.deltaY > 0 ? 1 : -1)); }, { passive: false });
  viewer.addEventListener('keydown', function (e) {
    if (e.target === centreInput || e.target === widthInput || e.target === presetSelect || e.target === slider) { return; }
    var keys = { ArrowDown: 1, ArrowRight: 1, PageDown: 5, ArrowUp: -1, ArrowLeft: -1, PageUp: -5 };
    if (e.key in keys) { e.preventDefault(); goTo(state.index + keys[e.key]); }
    if (e.key === 'Home') { e.preventDefault(); goTo(0); }
    if (e.key === 'End') { e.preventDefault(); goTo(state.series.instances.length - 1); }
    if (e.key === 'Escape') { e.preventDefault(); close(); }
  });
  presetSelect.addEventListener('change', function () {
    state.preset = presetSelect.value; state.window = null; show();
  });
  document.getElementById('viewer-window').addEventListener('submit', function (e) {
    e.preventDefault();
    var c = Number(centreInput.value), w = Number(widthInput.value);
    if (centreInput.value !== '' && widthInput.value !== '' && isFinite(c) && isFinite(w)) { setWindow(c, w); }
  });

  // Drag: horizontal changes the width, vertical the centre (as in most viewers), shown as it moves.
  var drag = null;
  // The browser's own image drag-and-drop would cancel the pointer after a few pixels.
  image.addEventListener('dragstart', function (e) { e.preventDefault(); });
  image.addEventListener('pointerdown', function (e) {
    e.preventDefault();
    var from = effectiveWindow(current()) || [40, 400];
    drag = { x: e.clientX, y: e.clientY, window: from.slice() };
    image.setPointerCapture(e.pointerId);
  });
  image.addEventListener('pointermove', function (e) {
    if (!drag) { return; }
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (Math.abs(dx) + Math.abs(dy) < 3) { return; }
    setWindow(drag.window[0] + dy * 2, drag.window[1] + dx * 4);
  });
  function endDrag() { drag = null; }
  image.addEventListener('pointerup', endDrag);
  image.addEventListener('pointercancel', endDrag);

  play.addEventListener('click', function () {
    if (state.timer) { stop(); return; }
    play.textContent = 'Stop';
    state.timer = setInterval(function () {
      var inst = current();
      state.frame = (state.frame + 1) % Math.max(1, inst.frames);
      show();
    }, 120);
  });
  document.getElementById('viewer-close').addEventListener('click', close);
}());
