// Consilium image viewer: studies → series; a series view with stack scrolling (wheel, arrow keys,
// slider), window presets and drag-to-window, frame playback, and a metadata panel.
// Previews come from /l/{token}/documents/{id}/preview; nothing here talks to another host.
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
  var play = document.getElementById('viewer-play');
  var meta = document.getElementById('viewer-meta');
  var title = document.getElementById('viewer-title');
  var PRESETS = { 'soft-tissue': [40, 400], lung: [-600, 1500], bone: [400, 1800], brain: [40, 80], abdomen: [60, 400] };

  var state = { series: null, index: 0, frame: 0, preset: 'auto', window: null, timer: null };

  function current() { return state.series.instances[state.index]; }

  function previewUrl() {
    var inst = current();
    var url = base + '/documents/' + inst.document_id + '/preview?size=768&frame=' + state.frame;
    if (state.window) {
      url += '&wc=' + Math.round(state.window[0]) + '&ww=' + Math.max(1, Math.round(state.window[1]));
    } else {
      url += '&preset=' + state.preset;
    }
    return url;
  }

  function text(node, value) { node.textContent = value === null || value === undefined ? '—' : String(value); }

  function show() {
    var inst = current();
    image.src = previewUrl();
    image.alt = 'Image ' + (state.index + 1) + ' of ' + state.series.instances.length +
      (inst.frames > 1 ? ', frame ' + (state.frame + 1) + ' of ' + inst.frames : '');
    slider.value = String(state.index);
    text(position, (state.index + 1) + ' / ' + state.series.instances.length +
      (inst.frames > 1 ? ' · frame ' + (state.frame + 1) + ' / ' + inst.frames : ''));
    play.hidden = inst.frames <= 1;
    var rows = [
      ['Series', state.series.description], ['Modality', state.series.modality],
      ['Body part', state.series.body_part], ['Instance', inst.instance_number],
      ['Size', inst.columns && inst.rows ? inst.columns + ' × ' + inst.rows : null],
      ['Frames', inst.frames], ['Photometric', inst.photometric_interpretation],
      ['Transfer syntax', inst.transfer_syntax], ['File', inst.filename],
      ['Window', state.window ? Math.round(state.window[0]) + ' / ' + Math.round(state.window[1]) : state.preset]
    ];
    meta.innerHTML = '';
    rows.forEach(function (r) {
      var dt = document.createElement('dt'); text(dt, r[0]);
      var dd = document.createElement('dd'); text(dd, r[1]);
      meta.appendChild(dt); meta.appendChild(dd);
    });
  }

  function go(delta) {
    var n = state.series.instances.length;
    state.index = Math.min(n - 1, Math.max(0, state.index + delta));
    state.frame = 0;
    show();
  }

  function open(series) {
    stop();
    state.series = series;
    state.index = Math.floor(series.instances.length / 2);
    state.frame = 0;
    slider.max = String(series.instances.length - 1);
    text(title, (series.description || 'Series') + (series.modality ? ' (' + series.modality + ')' : ''));
    viewer.hidden = false;
    show();
    image.focus();
  }

  function stop() {
    if (state.timer) { clearInterval(state.timer); state.timer = null; play.textContent = 'Play frames'; }
  }

  document.querySelectorAll('[data-series]').forEach(function (button) {
    button.addEventListener('click', function () {
      var s = button.getAttribute('data-study'), i = button.getAttribute('data-series');
      open(data[Number(s)].series[Number(i)]);
    });
  });

  slider.addEventListener('input', function () { state.index = Number(slider.value); state.frame = 0; show(); });
  image.addEventListener('wheel', function (e) { e.preventDefault(); go(e.deltaY > 0 ? 1 : -1); }, { passive: false });
  viewer.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowRight' || e.key === 'PageDown') { e.preventDefault(); go(1); }
    if (e.key === 'ArrowUp' || e.key === 'ArrowLeft' || e.key === 'PageUp') { e.preventDefault(); go(-1); }
  });
  presetSelect.addEventListener('change', function () {
    state.preset = presetSelect.value; state.window = null; show();
  });

  // Drag: horizontal changes the width, vertical the centre (as in most viewers).
  var drag = null;
  image.addEventListener('pointerdown', function (e) {
    var startWindow = state.window || PRESETS[state.preset] || [40, 400];
    drag = { x: e.clientX, y: e.clientY, window: startWindow.slice() };
    image.setPointerCapture(e.pointerId);
  });
  image.addEventListener('pointerup', function (e) {
    if (!drag) { return; }
    var dx = e.clientX - drag.x, dy = e.clientY - drag.y, from = drag.window;
    drag = null;
    if (Math.abs(dx) + Math.abs(dy) < 3) { return; }
    state.window = [from[0] + dy * 2, Math.max(1, from[1] + dx * 4)];
    show();
  });

  play.addEventListener('click', function () {
    if (state.timer) { stop(); return; }
    play.textContent = 'Stop';
    state.timer = setInterval(function () {
      var inst = current();
      state.frame = (state.frame + 1) % Math.max(1, inst.frames);
      show();
    }, 120);
  });
  document.getElementById('viewer-close').addEventListener('click', function () { stop(); viewer.hidden = true; });
}());
