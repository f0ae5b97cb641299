extension MyAccountPage {
    /// The page's behaviour. Plain JavaScript, no library: the row's buttons call the TOTP API
    /// with the bearer token, every outcome is announced in the live region (#messages), and
    /// focus moves to what the user needs next so the page works from the keyboard alone.
    static let script = #"""
        'use strict';
        (function () {
          const API = '/api/users/v1/me/totp';
          const $ = (id) => document.getElementById(id);
          let token = null;
          let current = null;      // last /status answer
          let digits = 6;
          let shownExpiresAt = null; // the expiry of the pending secret whose QR code the panel shows

          function say(text, kind) {
            const box = $('messages');
            box.className = 'message ' + (kind || 'info');
            box.textContent = '';
            // A fresh text node after clearing makes screen readers announce repeated messages.
            window.setTimeout(() => { box.textContent = text; }, 30);
          }

          function newKey() {
            const bytes = new Uint8Array(16);
            window.crypto.getRandomValues(bytes);
            return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
          }

          function localTime(iso) {
            const date = new Date(iso);
            // With the time zone: support staff compare a screenshot with the server's UTC log.
            return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' });
          }

          async function call(method, path, body) {
            const headers = { 'Authorization': 'Bearer ' + token, 'Accept': 'application/json' };
            if (body) headers['Content-Type'] = 'application/json';
            if (method === 'POST' || method === 'DELETE') headers['Idempotency-Key'] = newKey();
            let response;
            try {
              response = await fetch(API + path, { method, headers, body: body ? JSON.stringify(body) : undefined, cache: 'no-store' });
            } catch (error) {
              say('The server cannot be reached. Check your connection and try again.', 'error');
              throw error;
            }
            let data = {};
            if (response.status !== 204) {
              try { data = await response.json(); } catch (error) { data = {}; }
            }
            if (response.status === 403 && data.code === 'unusable_subject') {
              signOut('This account cannot use this page: its user name has characters the enrollment service does not accept (such as / or \\). Ask your administrator; signing in again will not help.');
              throw new Error('unusable subject');
            }
            if (response.status === 401) {
              signOut('Your sign-in is no longer valid (' + (data.message || 'not authenticated') + '). Paste a new access token.');
              throw new Error('unauthenticated');
            }
            return { status: response.status, data, retryAfter: response.headers.get('Retry-After') };
          }

          function explain(result) {
            const data = result.data || {};
            switch (data.code) {
              case 'locked': {
                const lockedUntil = 'Too many wrong codes. Verification is locked until ' + localTime(data.lockedUntil) + '.';
                // A lock can outlast the QR code it guards: then there is nothing to try again.
                const expires = current && current.pendingExpiresAt;
                if (expires && new Date(data.lockedUntil) >= new Date(expires)) {
                  return lockedUntil + ' This QR code expires before then (' + localTime(expires) + '); after the lock, press '
                    + (current.status === 'active' ? 'Regenerate' : '+') + ' for a new one.';
                }
                return lockedUntil + ' Try again after that time.';
              }
              case 'throttled':
                return 'Too many changes in a short time. Wait ' + (result.retryAfter ? result.retryAfter + ' seconds' : 'a minute') + ' and try again.';
              case 'service_reconfiguring':
                return 'The service is being updated. Try again in a minute.';
              case 'database_busy':
                return 'The service is busy. Try again in a moment.';
              case 'enrollment_expired':
                return 'This QR code expired before a code from it was verified. Press + to get a new QR code.';
              case 'not_enrolled':
                return 'No authenticator app is set up. Press + to add one.';
              case 'already_enrolled':
                return 'An authenticator app is already set up. Use Regenerate to replace it.';
              case 'malformed_code':
              case 'invalid_code_format':
                return 'Type the ' + (data.expectedDigits || digits) + ' digits your app shows, numbers only.';
              default:
                if (result.status >= 500) return 'Something went wrong on the server. Try again later' + (data.traceId ? ' (reference ' + data.traceId + ').' : '.');
                return (data.message || 'The request failed') + (data.description ? '. ' + data.description : '') + (data.traceId ? ' (reference ' + data.traceId + ')' : '');
            }
          }

          // --- The row -------------------------------------------------------------------

          async function refresh() {
            const result = await call('GET', '/status');
            if (result.status !== 200) { say(explain(result), 'error'); return; }
            current = result.data;
            render();
          }

          function render() {
            const state = current.status;
            $('totp-row').dataset.state = state;
            $('add').hidden = state !== 'none';
            $('view').hidden = state === 'none';
            $('regenerate').hidden = state !== 'active';
            $('remove').hidden = state === 'none';
            let text;
            if (state === 'active') {
              text = current.replacementPending
                ? 'Enabled. A new QR code waits for a code from it until ' + localTime(current.pendingExpiresAt) + '.'
                : 'Enabled';
            } else if (state === 'pending') {
              text = 'Not enabled yet: waiting for a code from your app (until ' + localTime(current.pendingExpiresAt) + ').';
            } else {
              text = 'Not set up. Use an authenticator app on your phone to get sign-in codes.';
            }
            if (current.pendingExpired) {
              text += state === 'active'
                ? ' The new QR code expired before a code from it was verified; press Regenerate for another.'
                : ' The last QR code expired before a code from it was verified; press + for a new one.';
            }
            if (current.lockedUntil) text += ' Verification is locked until ' + localTime(current.lockedUntil) + '.';
            $('totp-state').textContent = text;
            // A QR code that no longer belongs to anything (removed or expired elsewhere) goes.
            if (state === 'none') hidePanel();
            $('confirm-text').textContent = state === 'pending'
              ? 'Remove the QR code that waits for a code? Your app\u2019s entry for it will stop working.'
              : 'Remove the authenticator app? Sign-in will no longer ask for its codes.';
          }

          // After an action that hid the focused button, focus the first action still offered.
          function focusAction() {
            const next = ['add', 'view', 'regenerate', 'remove'].map($).find((button) => !button.hidden);
            (next || $('main')).focus();
          }

          function showPanel(data, intro) {
            const panel = $('panel');
            const svg = new DOMParser().parseFromString(data.qrCodeSvg || '', 'image/svg+xml').documentElement;
            const qr = $('qr');
            qr.textContent = '';
            if (svg && svg.nodeName.toLowerCase() === 'svg') {
              const image = document.importNode(svg, true);
              // At least 4 pixels a module (the viewBox counts modules): long names make a denser
              // code, which a camera cannot read at the size of a short one. CSS caps it at the panel.
              const modules = image.viewBox && image.viewBox.baseVal ? image.viewBox.baseVal.width : 0;
              image.style.width = Math.max(264, 4 * modules) + 'px';
              qr.appendChild(image);
            }
            const awaitingCode = data.status === 'pending' || data.replacementPending;
            shownExpiresAt = awaitingCode ? data.expiresAt : null;
            digits = data.digits || 6;
            $('panel-title').textContent = awaitingCode ? 'Scan this QR code with your authenticator app' : 'Your authenticator app\u2019s QR code';
            $('panel-help').textContent = intro;
            $('verify-form').hidden = !awaitingCode;
            if (awaitingCode) buildBoxes(digits);
            panel.hidden = false;
            $('confirm-remove').hidden = true;
            if (awaitingCode) boxes()[0].focus(); else $('panel-title').focus();
          }

          function hidePanel() {
            $('panel').hidden = true;
            $('qr').textContent = '';
            shownExpiresAt = null;
          }

          // --- Code boxes ------------------------------------------------------------------

          function boxes() { return Array.from(document.querySelectorAll('#code-boxes input')); }

          function buildBoxes(count) {
            const container = $('code-boxes');
            container.textContent = '';
            $('code-legend').textContent = 'Enter the ' + count + '-digit code your app shows';
            for (let i = 0; i < count; i++) {
              const input = document.createElement('input');
              input.type = 'text';
              input.inputMode = 'numeric';
              input.maxLength = count;
              input.className = 'digit';
              input.autocomplete = i === 0 ? 'one-time-code' : 'off';
              input.setAttribute('aria-label', 'Digit ' + (i + 1) + ' of ' + count);
              input.addEventListener('input', () => spread(i));
              input.addEventListener('keydown', (event) => step(event, i));
              container.appendChild(input);
            }
          }

          // Typing or pasting puts one digit per box and moves on; anything but digits is dropped.
          function spread(index) {
            const all = boxes();
            const typed = all[index].value.replace(/[^0-9]/g, '');
            all[index].value = typed.slice(0, 1);
            let next = index;
            for (let k = 1; k < typed.length && index + k < all.length; k++) all[index + k].value = typed[k];
            if (typed.length > 0) next = Math.min(index + typed.length, all.length - 1);
            if (next !== index || (typed.length > 0 && index < all.length - 1)) all[next].focus();
          }

          function step(event, index) {
            const all = boxes();
            if (event.key === 'Backspace' && all[index].value === '' && index > 0) { all[index - 1].focus(); all[index - 1].value = ''; event.preventDefault(); }
            else if (event.key === 'ArrowLeft' && index > 0) { all[index - 1].focus(); event.preventDefault(); }
            else if (event.key === 'ArrowRight' && index < all.length - 1) { all[index + 1].focus(); event.preventDefault(); }
          }

          function clearBoxes() { boxes().forEach((input) => { input.value = ''; }); const first = boxes()[0]; if (first) first.focus(); }

          // --- Actions ---------------------------------------------------------------------

          // `help` stays beside the QR code; `announcement` goes to the live region.
          async function act(action, help, announcement) {
            const result = await call('POST', '', { action });
            if (result.status !== 200) {
              say(explain(result), 'error');
              await refresh();
              if (document.activeElement === document.body || document.activeElement.hidden) focusAction();
              return;
            }
            showPanel(result.data, help);
            say(announcement, 'info');
            await refresh();
          }

          async function verify(event) {
            event.preventDefault();
            const button = $('verify');
            // One request at a time: a double click would send the code twice.
            if (button.disabled) return;
            const code = boxes().map((input) => input.value).join('');
            if (code.length !== digits) { say('Type all ' + digits + ' digits your app shows.', 'error'); const empty = boxes().find((i) => !i.value); if (empty) empty.focus(); return; }
            button.disabled = true;
            let result;
            try {
              result = await call('POST', '', { action: 'VALIDATE', verificationCode: code });
            } finally {
              button.disabled = false;
            }
            if (result.status === 200 && result.data.reason === 'code_reused' && result.data.status === 'active' && !result.data.replacementPending) {
              // Accepted a moment ago (a second click, another window): nothing is left to verify.
              hidePanel();
              say('Your authenticator app is enabled. Sign-in will ask for a code from it.', 'success');
              await refresh();
              $('view').focus();
              return;
            }
            if (result.status === 200 && result.data.isValid === false && shownExpiresAt && result.data.expiresAt && result.data.expiresAt !== shownExpiresAt) {
              // Another window or device asked for a new QR code: this one's codes no longer work.
              hidePanel();
              say('This QR code was replaced by a newer one (from another window or device), so its codes no longer work. Press the eye icon to show the current QR code, scan it, and type a code from it.', 'error');
              await refresh();
              focusAction();
              return;
            }
            if (result.status === 200 && result.data.isValid === true) {
              hidePanel();
              say('Authenticator app enabled. Sign-in will ask for a code from it.', 'success');
              await refresh();
              $('view').focus();
              return;
            }
            if (result.status === 200) {
              const left = result.data.remainingAttempts;
              const tail = (typeof left === 'number') ? ' ' + left + (left === 1 ? ' attempt' : ' attempts') + ' left before verification is locked.' : '';
              // After Regenerate the app may list the old entry beside the new one, under the
              // same name: say which one to read (the same words for every wrong code, so the
              // page tells nobody whether a code was the old secret's).
              say(result.data.reason === 'code_reused'
                ? 'That code was already used. Wait for your app to show the next code and type that one.' + tail
                : result.data.replacementPending
                  ? 'That code is not correct for the new QR code. If your app shows two entries for this account, type the code of the one you added last, and check that your phone\u2019s clock is right.' + tail
                  : 'That code is not correct. Check that your phone\u2019s clock is right and type the code the app shows now.' + tail, 'error');
              clearBoxes();
              return;
            }
            say(explain(result), 'error');
            if (result.data.code === 'enrollment_expired') hidePanel(); else clearBoxes();
            await refresh();
          }

          async function remove() {
            $('confirm-remove').hidden = true;
            const result = await call('DELETE', '');
            if (result.status === 204) { hidePanel(); say('Authenticator app removed.', 'success'); }
            else say(explain(result), 'error');
            await refresh();
            focusAction();
          }

          // --- Sign-in ---------------------------------------------------------------------

          // The claims are base64url of UTF-8 JSON (RFC 7519 §3): atob gives one character per
          // byte (Latin-1), so the bytes go through TextDecoder, or 'josé' would show 'josÃ©'.
          function subject(jwt) {
            try {
              const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
              const binary = atob(part + '==='.slice((part.length + 3) % 4));
              const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
              return JSON.parse(new TextDecoder('utf-8').decode(bytes)).sub || '';
            } catch (error) { return ''; }
          }

          async function signIn(value) {
            token = value.trim();
            $('token').value = '';
            // Only a flag, never the token: a reload can then say why it asks to sign in again.
            try { window.sessionStorage.setItem('enroll-signed-in', '1'); } catch (error) { /* storage off */ }
            say('', 'info');
            $('who').textContent = subject(token) ? 'Signed in as ' + subject(token) : '';
            $('login').hidden = true;
            $('security').hidden = false;
            $('signout').hidden = false;
            await refresh();
          }

          function signOut(message) {
            token = null;
            // Nothing of the token stays in the form: on a shared computer the next person
            // must not be one click away from this account's authenticator.
            $('token').value = '';
            try { window.sessionStorage.removeItem('enroll-signed-in'); } catch (error) { /* storage off */ }
            hidePanel();
            $('security').hidden = true;
            $('signout').hidden = true;
            $('who').textContent = '';
            $('login').hidden = false;
            if (message) say(message, 'error');
            $('token').focus();
          }

          document.addEventListener('DOMContentLoaded', () => {
            $('add').addEventListener('click', () => act('INIT',
              'In your authenticator app, add an account and scan this QR code. Then type the code the app shows and press Verify.',
              'A QR code is ready to scan.').catch(() => {}));
            $('view').addEventListener('click', () => act('VIEW',
              current && current.status === 'pending'
                ? 'In your authenticator app, add an account and scan this QR code. Then type the code the app shows and press Verify.'
                : current && current.replacementPending
                  ? 'This is the new QR code from Regenerate. It replaces your current app only once you type a code from it; until then your current app keeps working.'
                  : 'Scan this QR code to set up your authenticator app again, for example on a new phone.',
              'Your authenticator app\u2019s QR code is shown.').catch(() => {}));
            $('regenerate').addEventListener('click', () => act('REFRESH',
              'Scan this new QR code, then type a code from it and press Verify. Until you do, your current app keeps working.',
              'A new QR code is ready to scan.').catch(() => {}));
            $('remove').addEventListener('click', () => { $('confirm-remove').hidden = false; $('remove-no').focus(); });
            $('remove-no').addEventListener('click', () => { $('confirm-remove').hidden = true; $('remove').focus(); });
            $('confirm-remove').addEventListener('keydown', (event) => {
              if (event.key === 'Escape') { event.preventDefault(); $('confirm-remove').hidden = true; $('remove').focus(); }
            });
            $('remove-yes').addEventListener('click', () => remove().catch(() => {}));
            $('close-panel').addEventListener('click', () => { hidePanel(); say('', 'info'); ($('view').hidden ? $('add') : $('view')).focus(); });
            $('verify-form').addEventListener('submit', (event) => verify(event).catch(() => {}));
            $('signout').addEventListener('click', () => signOut('Signed out.'));
            $('login-form').addEventListener('submit', (event) => { event.preventDefault(); signIn($('token').value).catch(() => {}); });

            // A token in the fragment signs in, also when only the fragment changes (same page).
            function tokenFromFragment() {
              const fromFragment = new URLSearchParams(window.location.hash.slice(1)).get('token');
              if (!fromFragment) return false;
              // Out of the address bar and history, so it is not bookmarked or shared by accident.
              window.history.replaceState(null, '', window.location.pathname);
              hidePanel();
              signIn(fromFragment).catch(() => {});
              return true;
            }
            window.addEventListener('hashchange', tokenFromFragment);
            if (!tokenFromFragment()) {
              let reloaded = false;
              try { reloaded = window.sessionStorage.getItem('enroll-signed-in') === '1'; } catch (error) { /* storage off */ }
              signOut(reloaded ? 'You were signed out because the page was reloaded (the access token is never stored). Sign in again to continue.' : null);
            }
          });
        })();
        """#
}
