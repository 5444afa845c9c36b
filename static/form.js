/* Consilium: the request form, made easier with script. Without script the form still posts and the
   server answers with a page; with it, files are checked as they are chosen (extension, size, count,
   DICOM in a .dcm or inside a zip for a service that does not take it, the same file chosen twice),
   and again when the service changes; the upload shows its progress, a dropped connection can be retried, the server's refusals appear
   beside the field or file they concern, and the receipt is shown in place.
   The server's rules stay the only authority: these checks only save a wasted upload. */
(function () {
  'use strict';

  // The print button (receipt), on any page.
  function enablePrint(root) {
    var buttons = root.querySelectorAll('[data-action="print"]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener('click', function () { window.print(); });
    }
  }
  enablePrint(document);

  var form = document.getElementById('request-form');
  var configElement = document.getElementById('form-config');
  if (!form || !configElement) return;
  var config = JSON.parse(configElement.textContent);
  var messages = config.messages;
  form.noValidate = true;

  var UPLOADS = ['report', 'image', 'guarantee_letter'];
  var CHOOSE_LABELS = {
    report: 'Add reports or letters',
    image: 'Add scans or images',
    guarantee_letter: 'Add the letter'
  };
  var state = { sending: false, checking: false, tokenRefreshed: false, request: null, serverErrors: [] };
  var uploads = {};

  function $(id) { return document.getElementById(id); }

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  function message(key, values) {
    var template = messages[key] || messages.other;
    var all = {};
    Object.keys(config.services).forEach(function (k) { all[k] = config.services[k]; });
    Object.keys(values || {}).forEach(function (k) { all[k] = values[k]; });
    return fill(template, all);
  }

  function sizeLabel(bytes) {
    var MB = 1024 * 1024;
    if (bytes >= MB) {
      return (bytes % MB === 0 ? String(bytes / MB) : (bytes / MB).toFixed(1)) + ' MB';
    }
    if (bytes >= 1024) return Math.ceil(bytes / 1024) + ' KB';
    return bytes + ' bytes';
  }

  function extensionOf(name) {
    var dot = name.lastIndexOf('.');
    if (dot <= 0 || dot === name.length - 1) return '';
    return name.slice(dot + 1).toLowerCase();
  }

  function radioValue(name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    return checked ? checked.value : '';
  }

  function imagingTier() { return radioValue('service') === 'records_and_images_review'; }

  var announcer = $('announcer');
  function announce(text) {
    if (!announcer) return;
    announcer.textContent = '';
    window.setTimeout(function () { announcer.textContent = text; }, 50);
  }

  // ---- Files: chosen into a list per field, checked before anything is sent ----

  function allowedFor(field) {
    if (field === 'image') {
      // Until a service is chosen, DICOM is let through here; the service decides later.
      return (imagingTier() || !radioValue('service')) ? config.allowed.imageDicom : config.allowed.image;
    }
    return config.allowed[field];
  }

  function limitFor(field) {
    if (field === 'image') return config.maxImages;
    if (field === 'report') return config.maxReports;
    return 1;
  }

  // An error that choosing the other service would mend links there rather than to the file.
  var IMAGING_CHOICE = 'service-records_and_images_review';

  function check(field, entry, accepted) {
    var name = entry.file.name;
    var ext = extensionOf(name);
    var dicom = ext === 'dcm' || entry.dicom === true;
    entry.anchor = null;
    if (field === 'image' && dicom && !imagingTier() && radioValue('service')) {
      entry.anchor = IMAGING_CHOICE;
      return message('file-dicom', { filename: name });
    }
    if (field === 'report' && dicom) return message('file-dicom.report', { filename: name });
    var allowed = allowedFor(field);
    if (allowed.indexOf(ext) < 0) {
      return message('file-extension', {
        filename: name,
        allowed: allowed.map(function (e) { return e.toUpperCase(); }).join(', ')
      });
    }
    if (entry.file.size > config.maxFileBytes) {
      return message('file-size', { filename: name, size: sizeLabel(entry.file.size), limit: config.maxFileLabel });
    }
    if (entry.file.size === 0) return message('file-empty', { filename: name });
    if (accepted >= limitFor(field)) {
      return message('file-count.' + field, { filename: name, limit: limitFor(field) });
    }
    return null;
  }

  function recheck(field) {
    var upload = uploads[field];
    var accepted = 0;
    upload.entries.forEach(function (entry) {
      if (entry.serverError) {
        entry.error = entry.serverError;
        entry.anchor = entry.serverAnchor || null;
      } else {
        entry.error = check(field, entry, accepted);
      }
      if (!entry.error) accepted += 1;
    });
  }

  var nextId = 1;
  function render(field) {
    var upload = uploads[field];
    var list = upload.list;
    while (list.firstChild) list.removeChild(list.firstChild);
    upload.entries.forEach(function (entry) {
      var item = document.createElement('li');
      item.className = 'file ' + (entry.error ? 'file--error' : 'file--ok');
      item.id = 'file-' + entry.id;
      var name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = entry.file.name;
      var meta = document.createElement('span');
      meta.className = 'file-meta';
      meta.textContent = sizeLabel(entry.file.size) + (entry.error ? '' : ', ready to send');
      var remove = document.createElement('button');
      remove.type = 'button';
      remove.id = 'file-' + entry.id + '-remove';
      remove.className = 'link-button';
      remove.textContent = 'Remove';
      remove.setAttribute('aria-label', 'Remove ' + entry.file.name);
      remove.addEventListener('click', function () { removeEntry(field, entry); });
      item.appendChild(name);
      item.appendChild(remove);
      item.appendChild(meta);
      if (entry.error) {
        var problem = document.createElement('p');
        problem.className = 'file-message';
        problem.id = 'file-' + entry.id + '-error';
        problem.textContent = entry.error;
        item.appendChild(problem);
        remove.setAttribute('aria-describedby', problem.id);
      }
      list.appendChild(item);
    });
    list.hidden = upload.entries.length === 0;
  }

  function removeEntry(field, entry) {
    var upload = uploads[field];
    upload.entries = upload.entries.filter(function (e) { return e !== entry; });
    upload.note.hidden = true;
    recheck(field);
    render(field);
    clearSlot(field);
    refreshErrors();
    upload.button.focus();
    announce(entry.file.name + ' removed.');
  }

  // ---- What a file holds, read in the browser before anything is sent ----

  /** The member names of a zip, from its central directory (the end of the file): no inflating. */
  function zipMemberNames(file) {
    var EOCD = 0x06054b50;
    var tail = Math.min(file.size, 22 + 65535);
    function read(start, end) { return file.slice(start, end).arrayBuffer(); }
    function names(buffer) {
      var view = new DataView(buffer);
      var decoder = new TextDecoder();
      var out = [];
      var p = 0;
      while (p + 46 <= buffer.byteLength && view.getUint32(p, true) === 0x02014b50) {
        var n = view.getUint16(p + 28, true);
        out.push(decoder.decode(new Uint8Array(buffer, p + 46, Math.min(n, buffer.byteLength - p - 46))));
        p += 46 + n + view.getUint16(p + 30, true) + view.getUint16(p + 32, true);
      }
      return out;
    }
    return read(file.size - tail, file.size).then(function (buffer) {
      var view = new DataView(buffer);
      for (var i = buffer.byteLength - 22; i >= 0; i--) {
        if (view.getUint32(i, true) !== EOCD) continue;
        var size = view.getUint32(i + 12, true);
        var offset = view.getUint32(i + 16, true);
        if (offset === 0xffffffff || size === 0xffffffff) {
          // ZIP64: the locator just before the record points at the ZIP64 end record.
          if (i < 20 || view.getUint32(i - 20, true) !== 0x07064b50) return [];
          var at = Number(view.getBigUint64(i - 20 + 8, true));
          return read(at, at + 56).then(function (record) {
            var v = new DataView(record);
            if (record.byteLength < 56 || v.getUint32(0, true) !== 0x06064b50) return [];
            var start = Number(v.getBigUint64(48, true));
            return read(start, start + Number(v.getBigUint64(40, true))).then(names);
          });
        }
        return read(offset, offset + size).then(names);
      }
      return [];
    });
  }

  /** As the server judges members: a .dcm, or a file with no extension (a CD's DICOM/IM0001). */
  function isDicomMember(path) {
    if (/(^|\/|\\)__MACOSX(\/|\\)/.test(path) || /[\/\\]$/.test(path)) return false;
    var base = path.split(/[\/\\]/).pop();
    return base !== '' && (extensionOf(base) === 'dcm' || base.indexOf('.') < 0);
  }

  /** SHA-256 of the bytes (hex), or name, size and date where the browser cannot hash (plain http). */
  function fingerprint(file) {
    var simple = 'file:' + file.name + ':' + file.size + ':' + file.lastModified;
    if (!window.crypto || !window.crypto.subtle || file.size > config.maxFileBytes) {
      return Promise.resolve(simple);
    }
    return file.arrayBuffer()
      .then(function (buffer) { return window.crypto.subtle.digest('SHA-256', buffer); })
      .then(function (digest) {
        return 'sha256:' + Array.prototype.map.call(new Uint8Array(digest), function (b) {
          return (b < 16 ? '0' : '') + b.toString(16);
        }).join('');
      }, function () { return simple; });
  }

  function analyse(entry) {
    var zip = extensionOf(entry.file.name) === 'zip';
    var members = zip && entry.file.size <= config.maxFileBytes
      ? zipMemberNames(entry.file).then(function (names) { return names.some(isDicomMember); }, function () { return false; })
      : Promise.resolve(false);
    return Promise.all([members, fingerprint(entry.file)]).then(function (results) {
      entry.dicom = results[0];
      entry.fingerprint = results[1];
    });
  }

  // Files being read; sending waits for them.
  var pending = [];

  function chosenElsewhere(entry) {
    for (var i = 0; i < UPLOADS.length; i++) {
      var upload = uploads[UPLOADS[i]];
      if (!upload) continue;
      for (var j = 0; j < upload.entries.length; j++) {
        var other = upload.entries[j];
        if (other !== entry && other.fingerprint === entry.fingerprint) return true;
      }
    }
    return false;
  }

  function addFiles(field, files) {
    var upload = uploads[field];
    var added = files.map(function (file) {
      return { id: nextId++, file: file, error: null, serverError: null, dicom: null, fingerprint: null };
    });
    var work = Promise.all(added.map(analyse)).then(function () {
      var kept = [];
      var repeated = [];
      added.forEach(function (entry) {
        if (chosenElsewhere(entry)) {
          repeated.push(entry);
        } else {
          upload.entries.push(entry);
          kept.push(entry);
        }
      });
      recheck(field);
      render(field);
      clearSlot(field);
      upload.note.textContent = repeated.map(function (e) {
        return message('file-duplicate', { filename: e.file.name });
      }).join(' ');
      upload.note.hidden = repeated.length === 0;
      var said = [];
      var problems = kept.filter(function (e) { return e.error; });
      if (problems.length) {
        said = problems.map(function (e) { return e.error; });
      } else if (kept.length) {
        said = [kept.length === 1 ? kept[0].file.name + ' added.' : kept.length + ' files added.'];
      }
      if (repeated.length) said.push(upload.note.textContent);
      if (said.length) announce(said.join(' '));
      refreshErrors();
    });
    pending.push(work);
    work.then(function () { pending = pending.filter(function (p) { return p !== work; }); });
  }

  UPLOADS.forEach(function (field) {
    var input = $(field);
    var list = $(field + '-files');
    if (!input || !list) return;
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'button secondary';
    button.id = field + '-choose';
    button.textContent = CHOOSE_LABELS[field];
    button.setAttribute('aria-describedby', field + '-hint ' + field + '-error');
    button.addEventListener('click', function () { input.click(); });
    input.insertAdjacentElement('afterend', button);
    input.hidden = true;
    input.tabIndex = -1;
    var note = document.createElement('p');
    note.className = 'file-note';
    note.id = field + '-note';
    note.hidden = true;
    list.insertAdjacentElement('afterend', note);
    uploads[field] = { input: input, list: list, button: button, note: note, entries: [] };
    input.addEventListener('change', function () {
      var files = Array.prototype.slice.call(input.files || []);
      input.value = '';
      addFiles(field, files);
    });
  });

  // ---- Conditional parts ----

  function updateSponsor() {
    var sponsor = radioValue('sponsor') || 'self';
    $('sponsor-details').hidden = sponsor === 'self';
    $('guarantee_letter-field').hidden = sponsor !== 'embassy';
    var only = form.querySelectorAll('[data-sponsor-only]');
    for (var i = 0; i < only.length; i++) only[i].hidden = true;
  }
  form.addEventListener('change', function (event) {
    var target = event.target;
    if (target.name === 'sponsor') updateSponsor();
    if (target.name === 'service') serviceChanged();
  });
  updateSponsor();

  // Which images are accepted depends on the service: every chosen file is judged again, and the
  // server's refusals of images (which depended on the service) are set aside until it is asked again.
  function serviceChanged() {
    UPLOADS.forEach(function (field) {
      var upload = uploads[field];
      if (!upload) return;
      if (field === 'image') upload.entries.forEach(function (e) { e.serverError = null; e.serverAnchor = null; });
      recheck(field);
      render(field);
    });
    clearSlot('image');
    clearSlot('documents');
    state.serverErrors = [];
    refreshErrors();
  }

  // ---- Errors ----

  var summary = $('error-summary');
  var summaryList = $('error-summary-list');

  function slotElement(slot) { return $(slot + '-error'); }

  function clearSlot(slot) {
    var element = slotElement(slot);
    if (element) {
      element.textContent = '';
      element.hidden = true;
    }
    var container = $(slot + '-field');
    if (container) container.classList.remove('field--error');
    var input = $(slot);
    if (input && input.tagName !== 'FORM') input.removeAttribute('aria-invalid');
  }

  function clearErrors() {
    var slots = form.querySelectorAll('[data-error-for]');
    for (var i = 0; i < slots.length; i++) clearSlot(slots[i].getAttribute('data-error-for'));
    summary.hidden = true;
    while (summaryList.firstChild) summaryList.removeChild(summaryList.firstChild);
  }

  var ANCHORS = {
    contact_preference: 'contact_preference-email',
    service: 'service-records_review',
    sponsor: 'sponsor-self',
    documents: 'report-choose',
    general: 'submit-button',
    report: 'report-choose',
    image: 'image-choose',
    guarantee_letter: 'guarantee_letter-choose'
  };

  function anchorFor(slot) { return ANCHORS[slot] || slot; }

  function showErrors(errors) {
    listErrors(errors);
    summary.focus();
    summary.scrollIntoView({ block: 'start' });
  }

  // With the summary showing, a change of answers or files brings it up to date (focus stays put);
  // the server's last answer about the whole request is kept until the next send.
  function refreshErrors() {
    if (summary.hidden) return;
    var errors = validate().concat(state.serverErrors || []);
    if (errors.length) {
      listErrors(errors);
    } else {
      clearErrors();
      document.title = document.title.replace(/^Error: /, '');
    }
  }

  function listErrors(errors) {
    clearErrors();
    errors.forEach(function (error) {
      var element = slotElement(error.slot);
      if (element && !error.inList) {
        element.textContent = element.textContent ? element.textContent + ' ' + error.message : error.message;
        element.hidden = false;
      }
      var container = $(error.slot + '-field');
      if (container) container.classList.add('field--error');
      var input = $(error.slot);
      if (input && /^(INPUT|TEXTAREA)$/.test(input.tagName) && !input.hidden) {
        input.setAttribute('aria-invalid', 'true');
      }
      var item = document.createElement('li');
      var link = document.createElement('a');
      link.href = '#' + (error.anchor || anchorFor(error.slot));
      link.textContent = error.message;
      item.appendChild(link);
      summaryList.appendChild(item);
    });
    document.title = 'Error: ' + document.title.replace(/^Error: /, '');
    summary.hidden = false;
  }

  // Summary links move focus to the field, not only the view.
  summary.addEventListener('click', function (event) {
    var link = event.target.closest('a[href^="#"]');
    if (!link) return;
    var id = link.getAttribute('href').slice(1);
    var target = $(id);
    if (target && target.hidden) target = $(id + '-choose') || target;
    if (!target) return;
    event.preventDefault();
    var field = target.closest('.field, .section') || target;
    field.scrollIntoView({ block: 'start' });
    target.focus();
  });

  function value(name) {
    var element = form.elements[name];
    return element && typeof element.value === 'string' ? element.value.trim() : '';
  }

  function validPhone(phone) {
    var digits = phone.replace(/[^0-9]/g, '').length;
    return digits >= 6 && digits <= 20 && /^[0-9+\-(). ]+$/.test(phone);
  }

  function validate() {
    var errors = [];
    function add(slot, key, values) { errors.push({ slot: slot, message: message(key, values) }); }
    var name = value('full_name');
    if (!name) add('full_name', 'required.full_name');
    else if (name.length > 200) add('full_name', 'invalid.full_name');
    var email = value('email');
    if (!email) add('email', 'required.email');
    else if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) add('email', 'invalid.email');
    var phone = value('phone');
    if (phone && !validPhone(phone)) add('phone', 'invalid.phone');
    else if (!phone && radioValue('contact_preference') === 'phone') add('phone', 'required.phone');
    if (!radioValue('service')) add('service', 'invalid.service');
    var condition = value('condition');
    if (!condition) add('condition', 'required.condition');
    else if (condition.length > 5000) add('condition', 'invalid.condition');
    UPLOADS.forEach(function (field) {
      var upload = uploads[field];
      if (!upload || !sendsField(field)) return;
      upload.entries.forEach(function (e) {
        if (e.error) errors.push({ slot: field, message: e.error, anchor: e.anchor || 'file-' + e.id + '-remove', inList: true });
      });
    });
    if (imagingTier() && uploads.image && !uploads.image.entries.some(function (e) { return !e.error; })) {
      add('image', 'images-required');
    }
    var sponsor = radioValue('sponsor') || 'self';
    if (sponsor !== 'self' && !value('sponsor_reference')) add('sponsor_reference', 'required.sponsor_reference');
    if (!form.elements.terms_accepted.checked) add('terms_accepted', 'terms-not-accepted');
    return errors;
  }

  // Which file fields are sent: the letter only with an embassy.
  function sendsField(field) {
    return field !== 'guarantee_letter' || radioValue('sponsor') === 'embassy';
  }

  // The server's refusal, placed as the server-rendered page places it (src/http/form.rs).
  function placeRefusal(problem, retryAfter) {
    var code = problem.code || '';
    var limit = problem.limit !== undefined ? problem.limit : problem.limit_bytes;
    var values = {
      filename: problem.filename || '',
      limit: code === 'file-too-large' && limit !== undefined ? sizeLabel(limit) : (limit !== undefined ? limit : ''),
      allowed: (problem.allowed || []).map(function (e) { return String(e).toUpperCase(); }).join(', '),
      reason: problem.reason || '',
      retry: retryAfter > 90 ? Math.ceil(retryAfter / 60) + ' minutes' : (retryAfter > 1 ? retryAfter + ' seconds' : 'a moment')
    };
    var fileCodes = ['file-too-large', 'extension-not-allowed', 'content-mismatch', 'archive-rejected', 'image-rejected'];
    if (fileCodes.indexOf(code) >= 0 && problem.filename) {
      // DICOM sent with the records review: the answer is the other service, chosen above.
      var dicom = problem.requires_service === 'records_and_images_review';
      var text = message(dicom ? 'file-dicom' : code, values);
      var anchor = dicom ? IMAGING_CHOICE : null;
      for (var i = 0; i < UPLOADS.length; i++) {
        var upload = uploads[UPLOADS[i]];
        if (!upload || !sendsField(UPLOADS[i])) continue;
        for (var j = 0; j < upload.entries.length; j++) {
          var entry = upload.entries[j];
          if (entry.file.name === problem.filename && !entry.error) {
            entry.serverError = text;
            entry.serverAnchor = anchor;
            recheck(UPLOADS[i]);
            render(UPLOADS[i]);
            return { slot: UPLOADS[i], message: text, anchor: anchor || 'file-' + entry.id + '-remove', inList: true };
          }
        }
      }
      return { slot: 'documents', message: text, anchor: anchor };
    }
    switch (code) {
      case 'invalid-field': {
        var field = problem.field || 'general';
        if (UPLOADS.indexOf(field) >= 0) return { slot: field, message: message('invalid.file', values) };
        var required = /: required/.test(problem.detail || '');
        var key = (required ? 'required.' : 'invalid.') + field;
        return { slot: field, message: messages[key] ? message(key) : message('other') };
      }
      case 'terms-not-accepted': return { slot: 'terms_accepted', message: message(code) };
      case 'too-many-images':
      case 'images-required': return { slot: 'image', message: message(code, values) };
      case 'too-many-files': return { slot: problem.field || 'report', message: message(code, values) };
      case 'request-too-large': return { slot: 'documents', message: message(code) };
      case 'rate-limited':
      case 'unavailable':
      case 'forbidden': return { slot: 'general', message: message(code, values) };
      default: return { slot: 'general', message: message('other') };
    }
  }

  // ---- Sending, with progress and retry ----

  var status = $('upload-status');
  var progress = $('upload-progress');
  var percent = $('upload-percent');
  var connectionError = $('connection-error');
  var submitButton = $('submit-button');
  var lastAnnounced = 0;
  // A connection that stalls (a phone between cells) may never report an error: give up after
  // STALL_MS without progress while sending, or ANSWER_MS waiting for the answer once all is sent.
  var STALL_MS = 45000;
  var ANSWER_MS = 120000;
  var watchdog = null;

  function watch(xhr) {
    var last = Date.now();
    var uploaded = false;
    xhr.upload.addEventListener('progress', function (event) {
      last = Date.now();
      uploaded = event.lengthComputable && event.loaded >= event.total;
    });
    xhr.upload.addEventListener('load', function () { last = Date.now(); uploaded = true; });
    window.clearInterval(watchdog);
    watchdog = window.setInterval(function () {
      if (xhr.readyState === 4) {
        window.clearInterval(watchdog);
        return;
      }
      if (Date.now() - last > (uploaded ? ANSWER_MS : STALL_MS)) {
        window.clearInterval(watchdog);
        xhr.abort();
      }
    }, 2000);
  }

  function setProgress(fraction) {
    var value = Math.max(0, Math.min(100, Math.floor(fraction * 100)));
    progress.value = value;
    progress.textContent = value + '%';
    percent.textContent = value + '% sent';
    if (value >= lastAnnounced + 25) {
      lastAnnounced = value - (value % 25);
      announce(value + '% sent');
    }
  }

  function setSending(sending) {
    state.sending = sending;
    submitButton.disabled = sending;
    form.setAttribute('aria-busy', sending ? 'true' : 'false');
    if (sending) {
      status.hidden = false;
      connectionError.hidden = true;
    }
  }

  function buildBody() {
    var data = new FormData(form);
    UPLOADS.forEach(function (field) {
      data.delete(field);
      var upload = uploads[field];
      if (!upload || !sendsField(field)) return;
      upload.entries.forEach(function (entry) {
        if (!entry.error) data.append(field, entry.file, entry.file.name);
      });
    });
    if ((radioValue('sponsor') || 'self') === 'self') data.delete('sponsor_reference');
    return data;
  }

  function send() {
    var data = buildBody();
    var xhr = new XMLHttpRequest();
    state.request = xhr;
    lastAnnounced = 0;
    setSending(true);
    setProgress(0);
    announce('Sending your request.');
    xhr.open('POST', '/api/v1/requests');
    xhr.setRequestHeader('Accept', 'application/json');
    xhr.setRequestHeader('X-CSRF-Token', form.getAttribute('data-csrf-token') || '');
    xhr.upload.addEventListener('progress', function (event) {
      if (event.lengthComputable && event.total > 0) setProgress(event.loaded / event.total);
    });
    xhr.addEventListener('load', function () { received(xhr); });
    xhr.addEventListener('error', connectionLost);
    xhr.addEventListener('timeout', connectionLost);
    xhr.addEventListener('abort', connectionLost);
    watch(xhr);
    xhr.send(data);
  }

  function connectionLost() {
    setSending(false);
    status.hidden = true;
    connectionError.hidden = false;
    connectionError.focus();
  }

  function received(xhr) {
    var body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (xhr.status === 201 && body && body.reference) {
      setProgress(1);
      showReceipt(body);
      return;
    }
    setSending(false);
    status.hidden = true;
    if (xhr.status === 403 && body && body.code === 'forbidden' && !state.tokenRefreshed) {
      // The page's token no longer matches this browser's cookie: fetch a fresh one, once.
      state.tokenRefreshed = true;
      refreshToken().then(send, function () { refused(placeRefusal(body, 0)); });
      return;
    }
    if (xhr.status === 0) {
      connectionLost();
      return;
    }
    var retryAfter = parseInt(xhr.getResponseHeader('Retry-After') || '0', 10) || 0;
    var problem = body && body.code ? body : { code: 'other' };
    refused(placeRefusal(problem, retryAfter));
  }

  function refused(placed) {
    // A refusal of a file is kept on the file; any other is kept until the next send.
    state.serverErrors = placed.inList ? [] : [placed];
    showErrors([placed]);
  }

  function refreshToken() {
    return fetch('/', { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var page = new DOMParser().parseFromString(html, 'text/html');
        var fresh = page.getElementById('request-form');
        if (!fresh) throw new Error('no form');
        form.setAttribute('data-csrf-token', fresh.getAttribute('data-csrf-token'));
        form.setAttribute('action', fresh.getAttribute('action'));
      });
  }

  $('retry').addEventListener('click', function () {
    if (!state.sending) send();
  });

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    if (state.sending || state.checking) return;
    // Files still being read (a zip's contents, a photo's fingerprint) are judged first.
    state.checking = true;
    Promise.all(pending).then(function () {
      state.checking = false;
      state.serverErrors = [];
      var errors = validate();
      if (errors.length) {
        showErrors(errors);
        return;
      }
      clearErrors();
      send();
    });
  });

  // ---- The receipt, in place ----

  function dateParts(iso) {
    var format = new Intl.DateTimeFormat('en-GB', {
      timeZone: config.timeZone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23'
    });
    var parts = {};
    format.formatToParts(new Date(iso)).forEach(function (p) { parts[p.type] = p.value; });
    return parts;
  }

  function day(p) { return p.weekday + ' ' + p.day + ' ' + p.month + ' ' + p.year; }
  function moment(iso) { var p = dateParts(iso); return day(p) + ' at ' + p.hour + ':' + p.minute; }
  function deadline(iso) {
    var p = dateParts(iso);
    return p.hour === '23' && p.minute === '59' ? 'the end of ' + day(p) : day(p) + ' at ' + p.hour + ':' + p.minute;
  }

  function showReceipt(receipt) {
    var section = $('receipt');
    function slot(name) { return section.querySelector('[data-slot="' + name + '"]'); }
    slot('reference').textContent = receipt.reference;
    slot('received_at').textContent = moment(receipt.received_at);
    slot('contact_by').textContent = deadline(receipt.contact_by);
    var how = radioValue('contact_preference');
    slot('contact_how').textContent = how === 'phone' ? ' by telephone' : (how === 'email' ? ' by email' : '');
    var list = slot('documents');
    while (list.firstChild) list.removeChild(list.firstChild);
    (receipt.documents || []).forEach(function (d) {
      var item = document.createElement('li');
      var name = document.createElement('span');
      name.className = 'file-name';
      name.textContent = d.filename;
      var size = document.createElement('span');
      size.className = 'file-size';
      size.textContent = sizeLabel(d.size);
      item.appendChild(name);
      item.appendChild(document.createTextNode(' '));
      item.appendChild(size);
      list.appendChild(item);
    });
    slot('no-documents').hidden = (receipt.documents || []).length > 0;
    $('form-page').hidden = true;
    section.hidden = false;
    document.title = 'Request received: ' + receipt.reference + ' · Consilium';
    // The answers are no longer needed in the page.
    form.reset();
    UPLOADS.forEach(function (field) { if (uploads[field]) uploads[field].entries = []; });
    // A reload shows the receipt again (GET /receipt, from a cookie holding no personal data), and
    // the address holds nothing personal either.
    if (window.history && window.history.replaceState) window.history.replaceState(null, '', '/receipt');
    window.scrollTo(0, 0);
    var heading = $('receipt-title');
    heading.focus();
    announce('Your request has been received. Your reference is ' + receipt.reference.split('').join(' ') + '.');
  }
})();
