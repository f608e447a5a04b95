// Keyward dashboard enhancements. Every feature also works without this file:
// forms post to the server, which asks for confirmation and reveals keys itself.
(function () {
  'use strict';
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute('content') : '';

  function reveal(url) {
    var body = new URLSearchParams();
    body.set('_csrf', csrf);
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': csrf },
      body: body.toString(),
    }).then(function (res) {
      if (!res.ok) throw new Error('HTTP ' + res.status);
      return res.json();
    }).then(function (data) { return data.key; });
  }

  // Reveal a key in place.
  document.querySelectorAll('form[data-reveal]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var target = document.querySelector(form.getAttribute('data-reveal'));
      reveal(form.getAttribute('action')).then(function (key) {
        target.textContent = key;
        target.setAttribute('data-revealed', '1');
        form.hidden = true;
        document.querySelectorAll('[data-copy="#' + target.id + '"]').forEach(function (b) { b.hidden = false; });
      }, function () { form.submit(); });
    });
  });
  // Copy buttons are only useful with script; show the hidden ones that have something to copy.
  document.querySelectorAll('[data-copy][data-reveal-first]').forEach(function (b) { b.hidden = false; });

  document.querySelectorAll('[data-copy]').forEach(function (button) {
    button.addEventListener('click', function () {
      var target = document.querySelector(button.getAttribute('data-copy'));
      var ready = target.hasAttribute('data-key-for') && !target.hasAttribute('data-revealed') && button.hasAttribute('data-reveal-first')
        ? reveal(button.getAttribute('data-reveal-first')).then(function (key) {
            target.textContent = key;
            target.setAttribute('data-revealed', '1');
            var form = document.querySelector('form[data-reveal="#' + target.id + '"]');
            if (form) form.hidden = true;
            return key;
          })
        : Promise.resolve(target.textContent.trim());
      ready.then(function (text) {
        return navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject(new Error('no clipboard'));
      }).then(function () {
        var label = button.textContent;
        button.textContent = 'Copied';
        setTimeout(function () { button.textContent = label; }, 1500);
      }, function () {
        var range = document.createRange();
        range.selectNodeContents(target);
        var sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
      });
    });
  });

  // Confirm destructive actions in place; the server's confirmation page is the fallback.
  document.querySelectorAll('form[data-confirm]').forEach(function (form) {
    form.addEventListener('submit', function (event) {
      if (!window.confirm(form.getAttribute('data-confirm'))) { event.preventDefault(); return; }
      addConfirm(form);
    });
  });
  document.querySelectorAll('button[data-confirm]').forEach(function (button) {
    button.addEventListener('click', function (event) {
      if (!window.confirm(button.getAttribute('data-confirm'))) event.preventDefault();
    });
  });
  function addConfirm(form) {
    if (form.querySelector('input[name="confirm"]')) return;
    var input = document.createElement('input');
    input.type = 'hidden';
    input.name = 'confirm';
    input.value = 'yes';
    form.appendChild(input);
  }

  // "Select all" checkbox for bulk actions.
  document.querySelectorAll('[data-check-all]').forEach(function (all) {
    var name = all.getAttribute('data-check-all');
    all.addEventListener('change', function () {
      all.form && all.form.querySelectorAll('input[type="checkbox"][name="' + name + '"]').forEach(function (box) { box.checked = all.checked; });
    });
  });
})();
