extension MyAccountPage {
    /// The page's behaviour. Plain JavaScript, no library: the row's buttons call the TOTP API
    /// with the bearer token (one request per gesture), every outcome is announced in the live
    /// region (#messages) and a refused code also beside the code boxes, and focus moves to what
    /// the user needs next so the page works from the keyboard alone.
    static let script = #"""
        'use strict';
        (function () {
          const API = '/api/users/v1/me/totp';
          const $ = (id) => document.getElementById(id);
          let token = null;
          let current = null;      // last /status answer
          let digits = 6;
          let shownExpiresAt = null; // the expiry of the pending secret whose QR code the panel shows
          // What the panel shows: a replacement from Regenerate?, the app's name for the entry, its settings.
          let shown = null;
          let busy = false;        // a request of the user's is being answered
          let serverOffset = 0;    // the server's clock minus this one (ms), from the Date header
          let expiryTimer = null;
          let rowTimer = null;     // re-reads the status when the row's QR code expires or its lock ends
          // A sign-in session: every sign-in and sign-out starts a new one and aborts the requests
          // of the last, so an answer reaches only the session that asked (a slow answer must not
          // show one user's QR code to the next person signed in, nor sign out with an error).
          let session = 0;
          let sessionRequests = new AbortController();
          let accepted = false;    // the API has answered this session's token (a 401 then means it ended)

          const ADD_HELP = 'In your authenticator app, add an account and scan this QR code. Then type the code the app shows and press Verify.';

          let lastSaid = '';
          let saidCount = 0;
          function say(text, kind) {
            saidCount += 1;
            const box = $('messages');
            box.className = 'message ' + (kind || 'info');
            box.textContent = '';
            lastSaid = text;
            // A fresh text node after clearing makes screen readers announce repeated messages.
            window.setTimeout(() => { if (lastSaid === text) box.textContent = text; }, 30);
          }

          function newKey() {
            const bytes = new Uint8Array(16);
            window.crypto.getRandomValues(bytes);
            return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
          }

          // `roundUp` for a lock's end: shown to the minute, it must not name a time before the
          // real end, or "try again after that time" is refused again.
          function localTime(iso, roundUp) {
            let date = new Date(iso);
            if (roundUp && date.getTime() % 60000 !== 0) date = new Date(Math.ceil(date.getTime() / 60000) * 60000);
            // With the time zone: support staff compare a screenshot with the server's UTC log.
            return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' });
          }

          function newSession() {
            session += 1;
            accepted = false;
            unansweredWrite = null;
            sessionRequests.abort();
            sessionRequests = new AbortController();
          }

          // Thrown (and said nowhere) for an answer to a session that has ended.
          function ended() { return new Error('the session that sent this request has ended'); }

          // An answer that does not come in 15 s is given up, said, and the page usable again,
          // rather than waiting on. A change the server may still have made (it waits up to its
          // --busy-timeout for a lock) is sent again, when the user repeats it, under the same
          // Idempotency-Key: the server then does it at most once, and answers as it went.
          // (A test may shorten it: window.__answerTimeoutMs.)
          const answerTimeout = () => window.__answerTimeoutMs || 15000;
          let unansweredWrite = null;   // { request, key } of the last change left without an answer
          async function call(method, path, body) {
            const asked = session;
            const headers = { 'Authorization': 'Bearer ' + token, 'Accept': 'application/json' };
            const text = body ? JSON.stringify(body) : undefined;
            if (body) headers['Content-Type'] = 'application/json';
            const writes = method === 'POST' || method === 'DELETE';
            const request = method + ' ' + path + ' ' + (text || '');
            if (writes) {
              headers['Idempotency-Key'] = unansweredWrite && unansweredWrite.request === request ? unansweredWrite.key : newKey();
            }
            // The session's end or the timeout, whichever comes first, aborts the request.
            const controller = new AbortController();
            const abort = () => controller.abort();
            sessionRequests.signal.addEventListener('abort', abort, { once: true });
            let timedOut = false;
            const waited = answerTimeout();
            const timer = window.setTimeout(() => { timedOut = true; controller.abort(); }, waited);
            let response;
            try {
              response = await fetch(API + path, { method, headers, body: text, cache: 'no-store', signal: controller.signal });
            } catch (error) {
              if (asked !== session) throw ended();
              if (writes) unansweredWrite = { request, key: headers['Idempotency-Key'] };
              // Marked, so that the code form can say it beside the boxes too (on a phone the
              // message at the top is off screen).
              const unanswered = new Error(timedOut
                ? (writes
                  ? 'The server has not answered in ' + Math.round(waited / 1000) + ' seconds, so it is not known whether this took effect. Press the same button again: the server does it at most once, and says how it went.'
                  : 'The server has not answered in ' + Math.round(waited / 1000) + ' seconds. Try again in a moment.')
                : 'The server cannot be reached. Check your connection and try again.');
              unanswered.unanswered = true;
              say(unanswered.message, 'error');
              throw unanswered;
            } finally {
              window.clearTimeout(timer);
              sessionRequests.signal.removeEventListener('abort', abort);
            }
            // Answered: the retry is over, or the user has moved on to another change, after which
            // the same press again is a new one (an old key would replay an outcome since undone).
            if (writes) unansweredWrite = null;
            if (asked !== session) throw ended();
            const date = Date.parse(response.headers.get('Date') || '');
            if (!Number.isNaN(date)) serverOffset = date - Date.now();
            let data = {};
            if (response.status !== 204) {
              try { data = await response.json(); } catch (error) { data = {}; }
            }
            if (asked !== session) throw ended();
            if (response.status === 403 && data.code === 'unusable_subject') {
              signOut('This account cannot use this page: its user name has characters the enrollment service does not accept (such as / or \\). Ask your administrator; signing in again will not help.');
              throw new Error('unusable subject');
            }
            if (response.status === 401) {
              // The API's reason is for developers (the console); people read what to do.
              if (window.console) window.console.warn('enrollment API', response.status, data.code, data.message);
              signOut(accepted
                ? 'Your sign-in is no longer valid: the access token has expired or was revoked. Paste a new access token.'
                : 'That access token was not accepted. Paste the whole access token your account page gives you.');
              throw new Error('unauthenticated');
            }
            if (response.status < 500) accepted = true;
            return { status: response.status, data, retryAfter: response.headers.get('Retry-After') };
          }

          // "Press BUTTON", or while verification is locked (no new QR code is made until it ends)
          // "After the lock ends (TIME), press BUTTON"; lower case in the middle of a sentence.
          function press(data, button, midSentence) {
            const until = data.lockedUntil || (current && current.lockedUntil);
            // By the server's clock: a lock that ended since the last status is no reason to wait.
            const runs = until && Date.parse(until) > Date.now() + serverOffset;
            const text = (runs ? 'after the lock ends (' + localTime(until, true) + '), ' : '') + 'press ' + button;
            return midSentence ? text : text.charAt(0).toUpperCase() + text.slice(1);
          }

          // A sentence in the page's words for every error a user can meet; the API's own message
          // (written for developers) goes to the console only.
          function explain(result) {
            const data = result.data || {};
            switch (data.code) {
              case 'locked': {
                // For a new QR code from Regenerate only its codes are locked out, not sign-in.
                const lockedUntil = current && current.status === 'active'
                  ? 'Too many wrong codes for the new QR code. Checking its codes is locked until ' + localTime(data.lockedUntil, true) + '; signing in with your current app entry is not affected.'
                  : 'Too many wrong codes. Verification is locked until ' + localTime(data.lockedUntil, true) + '.';
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
              case 'replacement_expired':
                return 'This new QR code expired before a code from it was verified, so nothing changed: your current app entry still works. ' + press(data, 'Regenerate') + ' for a new QR code, and delete the entry you added from the expired one; if your app replaced its current entry with it, press the eye icon and scan the QR code shown.';
              case 'enrollment_expired':
                // Also the answer for a replacement from Regenerate that expired: the active one stays.
                return (shown && shown.replacement) || (current && current.status === 'active')
                  ? 'This new QR code expired before a code from it was verified. Your current app entry still works; ' + press(data, 'Regenerate', true) + ' for a new QR code. If you added an entry from the expired one, delete it from your app; if your app replaced its current entry with it, press the eye icon and scan the QR code shown.'
                  : 'This QR code expired before a code from it was verified. ' + press(data, '+') + ' to get a new QR code. If you added an entry from the expired one, delete it from your app.';
              case 'not_enrolled':
                return 'No authenticator app is set up. Press + to add one.';
              case 'already_enrolled':
                return 'An authenticator app is already set up. Use Regenerate to replace it.';
              case 'nothing_to_cancel':
                return 'There is no new QR code to cancel any more: it was verified, cancelled or replaced in another window or device, or it expired. The Authenticator App row shows what is set up now.';
              case 'no_pending_secret':
                return 'This QR code no longer waits for a code: it was verified or replaced in another window or device, or it expired. The Authenticator App row shows what is set up now.';
              case 'secret_unavailable':
                return 'Your authenticator app can no longer be shown or checked here. Press Remove, then + to set it up again.';
              case 'names_too_long':
                return 'Your account\u2019s name is too long for a new QR code. Press Remove, then + to set up your app again.';
              case 'malformed_code':
              case 'invalid_code_format':
                return 'Type the ' + (data.expectedDigits || digits) + ' digits your app shows, numbers only.';
              default: {
                if (window.console) window.console.warn('enrollment API', result.status, data.code, data.message, data.description, data.traceId);
                const reference = data.traceId ? ' (reference ' + data.traceId + ')' : '';
                return result.status >= 500
                  ? 'Something went wrong on the server' + reference + '. Try again later.'
                  : 'Something went wrong' + reference + '. Reload the page and try again.';
              }
            }
          }

          // --- One request at a time -------------------------------------------------------

          // A user's gesture sends one request: a second click (a double click on "+" would issue
          // two secrets, and the slower answer could show the discarded one) is ignored until the
          // first is answered. aria-disabled, not disabled: a disabled button loses the focus.
          const GUARDED = ['add', 'view', 'regenerate', 'cancel-regenerate', 'remove', 'remove-yes', 'verify', 'reveal-key'];

          // An answered action moves the focus to the button that comes next (the eye after a code
          // is accepted, Regenerate after Cancel Regenerate, + after a removal). A key pressed
          // twice or held down must not press that button too (a Regenerate nobody asked for,
          // a secret issued right after its removal): for a moment after the page has moved the
          // focus, Enter, Space and a screen reader's press do nothing where it put it (a control
          // the user moved to is theirs); a key's repeats press no button and submit no form; and
          // the second click of a double click presses no button.
          const SETTLE_MS = 700;
          let settledAt = 0, settledOn = null;
          function settle() { settledAt = performance.now() + SETTLE_MS; settledOn = document.activeElement; }
          function unsettled(event) {
            return event.target === settledOn && performance.now() < settledAt;
          }
          function pressing(event) {
            return (event.key === 'Enter' || event.key === ' ') && event.target instanceof Element && !!event.target.closest('button, form');
          }
          document.addEventListener('keydown', (event) => {
            if (pressing(event) && (event.repeat || unsettled(event))) event.preventDefault();
          }, true);
          // A button's Space presses it on release.
          document.addEventListener('keyup', (event) => {
            if (pressing(event) && event.key === ' ' && unsettled(event)) event.preventDefault();
          }, true);
          // A screen reader presses a button with a click of its own (detail 0, no key events).
          document.addEventListener('click', (event) => {
            if (!(event.target instanceof Element) || !event.target.closest('button')) return;
            if (event.detail > 1 || (event.detail === 0 && unsettled(event))) { event.preventDefault(); event.stopPropagation(); }
          }, true);
          const WAITING = 'Waiting for the server\u2026';
          async function oneAtATime(work) {
            if (busy) return;
            busy = true;
            $('totp-row').setAttribute('aria-busy', 'true');
            GUARDED.forEach((id) => $(id).setAttribute('aria-disabled', 'true'));
            // A slow answer is said after a second, so that a press does not seem to do nothing.
            // Only while nothing has been said since the press: an action that has answered and
            // only refreshes the row keeps its own message.
            const asked = session, saidBefore = saidCount;
            const slow = window.setTimeout(() => { if (asked === session && saidCount === saidBefore) say(WAITING, 'info'); }, 1000);
            try {
              await work();
            } catch (error) {
              // call() has said what went wrong.
            } finally {
              window.clearTimeout(slow);
              if (lastSaid === WAITING) { lastSaid = ''; $('messages').textContent = ''; }
              busy = false;
              $('totp-row').removeAttribute('aria-busy');
              GUARDED.forEach((id) => $(id).removeAttribute('aria-disabled'));
              // Never leave the keyboard user on <body> (a hidden button or panel had the focus).
              const active = document.activeElement;
              if (!active || active === document.body || active.closest('[hidden]')) focusAction();
              settle();
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
            $('regenerate').hidden = state !== 'active';
            $('remove').hidden = state === 'none';
            let text;
            if (state === 'active') {
              text = current.replacementPending
                ? 'Enabled. A new QR code waits for a code from it until ' + localTime(current.pendingExpiresAt)
                  + '; your current app keeps working meanwhile, and stays in use if no code from the new one is verified by then.'
                : 'Enabled.';
            } else if (state === 'pending') {
              text = 'Not enabled yet: waiting for a code from your app (until ' + localTime(current.pendingExpiresAt) + ').';
            } else {
              text = 'Not set up. Use an authenticator app on your phone to get sign-in codes.';
            }
            // While a lock runs no new QR code is made: the advice waits for its end.
            const afterLock = current.lockedUntil ? 'after the lock, ' : '';
            if (current.pendingExpired) {
              text += state === 'active'
                ? ' The new QR code expired before a code from it was verified; ' + afterLock + 'press Regenerate for another. If your app replaced its current entry with it, press the eye icon and scan the QR code shown.'
                : ' The last QR code expired before a code from it was verified; ' + afterLock + 'press + for a new one.';
            }
            if (current.lockedUntil) text += ' Verification is locked until ' + localTime(current.lockedUntil, true) + '.';
            // A lock that outlasts the QR code waiting for its code: that code can never be
            // confirmed, so the eye does not offer it to scan.
            const outlasted = lockOutlastsQR();
            if (outlasted) {
              text += state === 'active'
                ? ' The new QR code expires before then, so it can no longer be confirmed; your current app entry keeps working. After the lock, press Regenerate for a new one.'
                : ' This QR code expires before then, so it can no longer be confirmed; after the lock, press + for a new one.';
            }
            $('view').hidden = state === 'none' || (outlasted && $('panel').hidden);
            // Only the state itself in the success style: a warning after "Enabled." is no success.
            const stateLine = $('totp-state');
            stateLine.textContent = '';
            if (state === 'active') {
              const enabled = document.createElement('span');
              enabled.className = 'enabled';
              enabled.textContent = 'Enabled.';
              stateLine.appendChild(enabled);
              stateLine.appendChild(document.createTextNode(text.slice('Enabled.'.length)));
            } else {
              stateLine.textContent = text;
            }
            // A QR code that no longer belongs to anything (removed or expired elsewhere) goes, as
            // does a code form nothing waits for any more (verified or expired elsewhere).
            if (state === 'none' || (shownExpiresAt && state === 'active' && !current.replacementPending)) hidePanel();
            $('confirm-text').textContent = state === 'pending'
              ? 'Remove the QR code that waits for a code? Your app\u2019s entry for it will stop working.'
              : 'Remove the authenticator app? Sign-in will no longer ask for its codes.';
            scheduleRow();
          }

          function lockOutlastsQR() {
            return !!(current && current.lockedUntil && current.pendingExpiresAt
              && Date.parse(current.lockedUntil) >= Date.parse(current.pendingExpiresAt));
          }

          // The row follows the clock, whether or not its QR code is on screen: when the QR code
          // expires (the panel's own timer does it while the panel shows it) or the lock ends, the
          // status is read again (by the server's clock, plus a second).
          function scheduleRow() {
            window.clearTimeout(rowTimer);
            if (!current || !token) return;
            const now = Date.now() + serverOffset;
            const due = [current.lockedUntil, current.pendingExpiresAt !== shownExpiresAt ? current.pendingExpiresAt : null]
              .filter(Boolean).map(Date.parse).filter((time) => time > now);
            if (!due.length) return;
            rowTimer = window.setTimeout(() => { rowDue().catch(() => {}); }, Math.min(Math.min(...due) - now + 1000, 2147483647));
          }

          async function rowDue() {
            if (!token) return;
            if (busy) { rowTimer = window.setTimeout(() => { rowDue().catch(() => {}); }, 1000); return; }
            const wasLocked = !!current.lockedUntil;
            const focused = document.activeElement && document.activeElement !== document.body;
            await refresh();
            // A button the new state hides (Remove, once a locked first QR code expires) took
            // the focus with it: the keyboard user is not left on <body>.
            const active = document.activeElement;
            if (focused && (!active || active === document.body || active.closest('[hidden]'))) focusAction();
            if (wasLocked && !current.lockedUntil) {
              // The lock's refusal beside the code boxes and in the live region is over too.
              clearCodeError();
              say('Verification is no longer locked.' + ($('verify-form').hidden || $('panel').hidden ? '' : ' Type the code your app shows now and press Verify.'), 'info');
            }
          }

          // After an action that hid the focused button, focus `preferred` if it is offered, else
          // the first action still offered.
          function focusAction(preferred) {
            const offered = [preferred, 'add', 'view', 'regenerate', 'remove'].filter(Boolean).map($).find((button) => !button.hidden);
            (offered || $('main')).focus();
            // Also after a sign-in or a timer's redraw: an Enter meant for what had the focus
            // does not press what has it now.
            settle();
          }

          // The name an authenticator app lists the entry under, and its settings, from the
          // otpauth URI (base64 in qrCodeUrl); its secret is not read from here (see revealKey).
          function entryOf(data) {
            try {
              const bytes = Uint8Array.from(atob(data.qrCodeUrl || ''), (c) => c.charCodeAt(0));
              const uri = new URL(new TextDecoder('utf-8').decode(bytes));
              const label = decodeURIComponent(uri.pathname.replace(/^\/+/, ''));
              const colon = label.indexOf(':');
              const issuer = uri.searchParams.get('issuer') || (colon >= 0 ? label.slice(0, colon) : '');
              const account = colon >= 0 ? label.slice(colon + 1) : label;
              return {
                name: issuer ? issuer + ' (' + account + ')' : account, account, issuer,
                algorithm: (uri.searchParams.get('algorithm') || 'SHA1').toUpperCase(),
                period: uri.searchParams.get('period') || '30',
                digits: uri.searchParams.get('digits') || '6',
              };
            } catch (error) { return null; }
          }

          // A secret with another hash, time step or length than SHA1, 30 seconds and 6 digits,
          // which some apps ignore: their codes are then never right, whatever the clock
          // (README, "request").
          function settingsHint() {
            const entry = shown && shown.entry;
            if (!entry || (entry.algorithm === 'SHA1' && entry.period === '30' && entry.digits === '6')) return '';
            const length = entry.digits === '6' ? '' : entry.digits + '-digit ';
            return ' This QR code asks for ' + length + entry.algorithm + ' codes every ' + entry.period + ' seconds, which some apps ignore:'
              + ' if yours never shows a right code, use an app that follows these settings, or ask your administrator for a QR code with the usual ones.';
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
            scheduleExpiry();
            digits = data.digits || 6;
            shown = { replacement: !!data.replacementPending, entry: entryOf(data) };
            $('panel-title').textContent = awaitingCode ? 'Scan this QR code with your authenticator app' : 'Your authenticator app\u2019s QR code';
            $('panel-help').textContent = intro;
            // The key as text exists only for a secret that awaits its code (GET /secret's rule).
            collapseKey();
            $('manual').hidden = !awaitingCode;
            // Only a new QR code from Regenerate can be cancelled (a first one goes with Remove).
            $('cancel-regenerate').hidden = !data.replacementPending;
            $('verify-form').hidden = !awaitingCode;
            if (awaitingCode) buildBoxes(digits);
            clearCodeError();
            panel.hidden = false;
            eyeShows(true);
            $('confirm-remove').hidden = true;
            if (awaitingCode) boxes()[0].focus(); else $('panel-title').focus();
          }

          function hidePanel() {
            const panel = $('panel');
            const hadFocus = panel.contains(document.activeElement);
            panel.hidden = true;
            eyeShows(false);
            $('qr').textContent = '';
            collapseKey();
            clearCodeError();
            shownExpiresAt = null;
            window.clearTimeout(expiryTimer);
            scheduleRow();
            // The focused code box or button went with the panel: the row's next action takes it.
            if (hadFocus) focusAction();
          }

          // The eye is a disclosure: it shows the QR code, and pressed again hides it (a second
          // press records no second reveal).
          function eyeShows(shownNow) {
            const eye = $('view');
            eye.setAttribute('aria-expanded', shownNow ? 'true' : 'false');
            eye.setAttribute('aria-label', shownNow ? 'Hide QR code' : 'Show QR code');
            eye.title = shownNow ? 'Hide QR code' : 'Show QR code';
          }

          // A QR code past its lifetime leaves the screen, so nobody scans a dead one: at its
          // expiry by the server's clock (its Date header), plus a second (expiresAt has seconds).
          function scheduleExpiry() {
            window.clearTimeout(expiryTimer);
            if (!shownExpiresAt) return;
            const left = Date.parse(shownExpiresAt) - (Date.now() + serverOffset);
            // The server has just said this secret is live: a clock saying otherwise is wrong.
            if (!(left > 0)) return;
            const expiring = shownExpiresAt;
            expiryTimer = window.setTimeout(() => { expired(expiring).catch(() => {}); }, Math.min(left + 1000, 2147483647));
          }

          async function expired(expiring) {
            if (shownExpiresAt !== expiring) return;
            if (busy) { expiryTimer = window.setTimeout(() => { expired(expiring).catch(() => {}); }, 1000); return; }
            const message = explain({ status: 409, data: { code: 'enrollment_expired' } });
            const hadFocus = $('panel').contains(document.activeElement);
            hidePanel();
            say(message, 'error');
            await refresh();
            if (hadFocus) focusAction(current && current.status === 'active' ? 'regenerate' : 'add');
          }

          // --- "Can't scan?": the key as text ------------------------------------------------

          function collapseKey() {
            $('reveal-key').setAttribute('aria-expanded', 'false');
            $('manual-key').hidden = true;
            $('key-text').textContent = '';
          }

          // Fetched only when asked for, so the audit records this reveal as text.
          async function revealKey() {
            if ($('reveal-key').getAttribute('aria-expanded') === 'true') { collapseKey(); return; }
            let result;
            try {
              result = await call('GET', '/secret');
            } catch (error) {
              if (error.unanswered) codeError(error.message);
              throw error;
            }
            if (result.status !== 200 || typeof result.data.secret !== 'string') {
              say(explain(result), 'error');
              if (['no_pending_secret', 'enrollment_expired', 'replacement_expired'].includes(result.data.code) || result.status === 404) hidePanel();
              await refresh();
              return;
            }
            const key = $('key-text');
            key.textContent = '';
            // Groups of four, as apps print keys; each its own word for a screen reader.
            (result.data.secret.replace(/=+$/, '').match(/.{1,4}/g) || []).forEach((group, index) => {
              if (index > 0) key.appendChild(document.createTextNode(' '));
              const span = document.createElement('span');
              span.textContent = group;
              key.appendChild(span);
            });
            const entry = shown && shown.entry;
            $('key-account').textContent = entry ? entry.name : '';
            $('key-type').textContent = 'Time-based, ' + digits + ' digits' + (entry && (entry.period !== '30' || entry.algorithm !== 'SHA1')
              ? ', every ' + entry.period + ' seconds, ' + entry.algorithm : '');
            $('manual-key').hidden = false;
            $('reveal-key').setAttribute('aria-expanded', 'true');
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
              // No maxlength of the code's length: the browser would cut a pasted or autofilled
              // "123 456" to "123 45" before the spaces are dropped (spread takes the digits).
              input.maxLength = 64;
              input.className = 'digit';
              input.autocomplete = i === 0 ? 'one-time-code' : 'off';
              input.setAttribute('aria-label', 'Digit ' + (i + 1) + ' of ' + count);
              input.setAttribute('aria-describedby', 'code-error');
              input.addEventListener('input', (event) => spread(i, event));
              input.addEventListener('paste', (event) => {
                const text = event.clipboardData ? event.clipboardData.getData('text') : '';
                if (!text) return;
                event.preventDefault();
                fill(i, text);
              });
              input.addEventListener('keydown', (event) => step(event, i));
              // Selected on focus, so a digit typed over it replaces it.
              input.addEventListener('focus', () => input.select());
              container.appendChild(input);
            }
          }

          // Typing puts one digit in the box and moves on; pasting (or an app's autofill) spreads
          // the digits over the boxes from this one; anything but digits is dropped.
          function spread(index, event) {
            const all = boxes();
            all[index].removeAttribute('aria-invalid');
            const typedOne = event && (event.inputType === 'insertText' || event.inputType === 'insertCompositionText')
              && typeof event.data === 'string' && event.data.length === 1;
            if (typedOne) {
              // One key pressed in a box that held a digit (the caret before or after it): the new
              // digit replaces the old one; the boxes after it are left as they were.
              const digit = asciiDigits(event.data);
              all[index].value = /[0-9]/.test(digit) ? digit : asciiDigits(all[index].value).replace(/[^0-9]/g, '').slice(0, 1);
              if (/[0-9]/.test(digit) && index < all.length - 1) all[index + 1].focus();
              return;
            }
            fill(index, all[index].value);
          }

          // A code as the app or a password manager groups it ("123 456", "1234-5678"): its digits
          // go into the boxes from this one, or from the first when it is a whole code.
          function fill(index, text) {
            const all = boxes();
            const typed = codeIn(text, all.length);
            if (typed.length > all.length) {
              // Cut to fit, it would spend an attempt on a code nobody typed.
              all[index].value = '';
              codeError('That holds ' + typed.length + ' digits; the code has ' + all.length + '. Type or paste the ' + all.length + ' digits your app shows.');
              all[index].focus();
              return;
            }
            const from = typed.length >= all.length ? 0 : index;
            all[index].value = '';
            for (let k = 0; k < typed.length && from + k < all.length; k++) {
              all[from + k].value = typed[k];
              all[from + k].removeAttribute('aria-invalid');
            }
            if (typed.length > 0) all[Math.min(from + typed.length, all.length - 1)].focus();
          }

          // The code in a pasted or autofilled text: the last run of digits as long as the code,
          // grouped or not by single spaces (thin and no-break ones too) or dashes ("Your code 2:
          // 123 456" gives 123456), dates and times aside ("… sent 2024-01-15 10:30"), else every
          // digit in it but those of dates and times.
          function codeIn(text, length) {
            const plain = asciiDigits(text).replace(/(?<![0-9])(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)(?![0-9])/g, ' ');
            const runs = (plain.match(/[0-9](?:[ \-\u00A0\u2009\u202F]?[0-9])*/g) || []).map((run) => run.replace(/[^0-9]/g, ''));
            const whole = runs.filter((run) => run.length === length);
            return whole.length ? whole[whole.length - 1] : (plain.replace(/[^0-9]/g, '') || asciiDigits(text).replace(/[^0-9]/g, ''));
          }

          // Digits of any script as ASCII (a Japanese keyboard's full-width ones, Arabic-Indic,
          // Devanagari…): the API takes ASCII digits only, so the page turns what a keyboard types
          // into them rather than dropping it. Unicode puts each script's digits 0 to 9 in a row
          // (some scripts several rows back to back), so a digit's value is its place in its row.
          function asciiDigits(text) {
            return String(text).replace(/\p{Nd}/gu, (digit) => {
              const point = digit.codePointAt(0);
              let first = point;
              while (/\p{Nd}/u.test(String.fromCodePoint(first - 1))) first -= 1;
              return String((point - first) % 10);
            });
          }

          function step(event, index) {
            const all = boxes();
            // A box holds one digit: Backspace or Delete clears it wherever a click left the caret.
            if ((event.key === 'Backspace' || event.key === 'Delete') && all[index].value !== '') { all[index].value = ''; event.preventDefault(); }
            else if (event.key === 'Backspace' && index > 0) { all[index - 1].focus(); all[index - 1].value = ''; event.preventDefault(); }
            else if (event.key === 'ArrowLeft' && index > 0) { all[index - 1].focus(); event.preventDefault(); }
            else if (event.key === 'ArrowRight' && index < all.length - 1) { all[index + 1].focus(); event.preventDefault(); }
          }

          function clearBoxes() { boxes().forEach((input) => { input.value = ''; }); const first = boxes()[0]; if (first) first.focus(); }

          // A refused code is said beside the boxes too (on a phone the live region at the top is
          // off screen), and the boxes are marked invalid until the next digit is typed.
          function codeError(text) {
            say(text, 'error');
            const line = $('code-error');
            line.textContent = text;
            line.hidden = false;
            boxes().forEach((input) => input.setAttribute('aria-invalid', 'true'));
            line.scrollIntoView({ block: 'nearest' });
          }

          function clearCodeError() {
            $('code-error').textContent = '';
            $('code-error').hidden = true;
            boxes().forEach((input) => input.removeAttribute('aria-invalid'));
          }

          // --- Actions ---------------------------------------------------------------------

          // `help` (text, or a function of the answer) stays beside the QR code; `announcement`
          // (the same) goes to the live region.
          async function act(action, help, announcement) {
            const result = await call('POST', '', { action });
            if (result.status === 429 && result.data && result.data.code === 'locked') {
              // + and Regenerate make no QR code while a lock runs: one made now would expire first.
              say('A new QR code cannot be made while verification is locked after too many wrong codes. Try again after '
                + localTime(result.data.lockedUntil, true) + '.', 'error');
              await refresh();
              return;
            }
            if (result.status !== 200) {
              say(explain(result), 'error');
              await refresh();
              return;
            }
            const text = (value) => (typeof value === 'function' ? value(result.data) : value);
            showPanel(result.data, text(help));
            say(text(announcement), 'info');
            await refresh();
          }

          function enabledMessage() {
            // After Regenerate the app lists two entries under one name; only the newer works.
            if (shown && shown.replacement) {
              return 'Your new authenticator app entry is now in use. Delete the older '
                + (shown.entry ? '\u201c' + shown.entry.name + '\u201d ' : '') + 'entry from your app (the one you added first): its codes no longer work.';
            }
            return 'Authenticator app enabled. Sign-in will ask for a code from it.';
          }

          async function verify() {
            const code = boxes().map((input) => input.value).join('');
            // (The Date header has whole seconds: the server's clock may be up to a second ahead.)
            if (current && current.lockedUntil && Date.parse(current.lockedUntil) > Date.now() + serverOffset + 1000) {
              // Still locked: the server would refuse it (even the right code); nothing is sent.
              codeError(explain({ status: 429, data: { code: 'locked', lockedUntil: current.lockedUntil } }));
              return;
            }
            if (code.length !== digits) {
              codeError('Type all ' + digits + ' digits your app shows.' + settingsHint());
              const empty = boxes().find((i) => !i.value);
              if (empty) empty.focus();
              return;
            }
            let result;
            try {
              result = await call('POST', '', { action: 'VALIDATE', verificationCode: code });
            } catch (error) {
              if (error.unanswered) codeError(error.message);
              throw error;
            }
            if (result.status === 200 && result.data.reason === 'code_reused' && result.data.status === 'active' && !result.data.replacementPending) {
              // Accepted a moment ago (a second click, another window): nothing is left to verify.
              const message = enabledMessage();
              hidePanel();
              say(message, 'success');
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
              const message = enabledMessage();
              hidePanel();
              say(message, 'success');
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
              // The refusal first, then the focus: the boxes point at it (aria-describedby), and a
              // screen reader reads the new count, not the last one.
              codeError(result.data.reason === 'code_reused'
                ? 'That code was already used. Wait for your app to show the next code and type that one.' + tail
                : result.data.replacementPending
                  ? 'That code is not correct for the new QR code. If your app shows two entries for this account, type the code of the one you added last, and check that your phone\u2019s clock is right.' + settingsHint() + tail
                  : 'That code is not correct. Check that your phone\u2019s clock is right and type the code the app shows now.' + settingsHint() + tail);
              clearBoxes();
              return;
            }
            const message = explain(result);
            // A lock that outlasts the QR code leaves nothing to try with it.
            const outlasted = result.data.code === 'locked' && shownExpiresAt && new Date(result.data.lockedUntil) >= new Date(shownExpiresAt);
            const gone = outlasted || ['enrollment_expired', 'replacement_expired', 'no_pending_secret', 'not_enrolled'].includes(result.data.code);
            if (gone) {
              // Nothing can be verified with this QR code any more.
              hidePanel();
              say(message, 'error');
            } else {
              codeError(message);
              clearBoxes();
            }
            await refresh();
            if (gone) focusAction(current && current.status === 'active' ? 'regenerate' : 'add');
          }

          // Cancel Regenerate: the new QR code is discarded, the current app entry stays in use.
          async function cancelRegenerate() {
            const result = await call('POST', '', { action: 'CANCEL' });
            hidePanel();
            if (result.status === 200) {
              say('Regenerate cancelled: your current app entry keeps working. If you added an entry from the new QR code, delete it from your app; if your app replaced its current entry with it, press the eye icon and scan the QR code shown.', 'success');
            } else {
              say(explain(result), 'error');
            }
            await refresh();
            focusAction('regenerate');
          }

          async function remove() {
            $('confirm-remove').hidden = true;
            $('remove').focus();
            const result = await call('DELETE', '');
            if (result.status === 204) { hidePanel(); say('Authenticator app removed. Delete its entry from your authenticator app too: its codes no longer sign you in.', 'success'); }
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
            newSession();
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

          // Signing in from the form or the "Switch account?" question, both hidden once signed in:
          // a screen reader hears whom as, and focus goes to the first action.
          async function signInAnnounced(value) {
            await signIn(value);
            if (!token) return;
            say('Signed in as ' + (subject(token) || 'your account') + '.', 'info');
            focusAction();
          }

          function signOut(message) {
            newSession();
            token = null;
            // Nothing of the token stays in the form: on a shared computer the next person
            // must not be one click away from this account's authenticator.
            $('token').value = '';
            try { window.sessionStorage.removeItem('enroll-signed-in'); } catch (error) { /* storage off */ }
            hidePanel();
            $('switch').hidden = true;
            $('security').hidden = true;
            $('signout').hidden = true;
            $('who').textContent = '';
            $('login').hidden = false;
            if (message) say(message, 'error');
            $('token').focus();
          }

          // What changed since this tab last read the status (in another window or device, or by
          // the clock), in a sentence; null when nothing did.
          function changedElsewhere(before, now) {
            if (!before || !now || (before.status === now.status && before.replacementPending === now.replacementPending
              && before.pendingExpiresAt === now.pendingExpiresAt)) return null;
            if (now.status === 'none') {
              if (before.status === 'none') return null;
              return now.pendingExpired
                ? 'The QR code expired before a code from it was verified. Press + for a new one.'
                : 'Your authenticator app was removed in another window or device.';
            }
            if (now.status === 'active' && before.status !== 'active') return 'Your authenticator app was set up in another window or device.';
            if (now.status === 'active' && before.replacementPending && !now.replacementPending) {
              return 'The new QR code from Regenerate was verified or cancelled in another window or device, or it expired. The Authenticator App row shows what is in use now.';
            }
            return 'Your authenticator app was changed in another window or device. The Authenticator App row shows what is set up now.';
          }

          // The eye's help text and announcement follow what VIEW answered, not the row as this
          // page last read it: another window may have pressed Regenerate meanwhile.
          function viewHelp(data) {
            if (data.status === 'pending') return ADD_HELP;
            return data.replacementPending
              ? 'This is the new QR code from Regenerate. It replaces your current app only once you type a code from it; until then your current app keeps working.'
              : 'Scan this QR code to set up your authenticator app again, for example on a new phone.';
          }

          function viewAnnouncement(data) {
            return data.replacementPending ? 'The new QR code from Regenerate is shown.'
              : data.status === 'pending' ? 'A QR code is ready to scan.' : 'Your authenticator app\u2019s QR code is shown.';
          }

          document.addEventListener('DOMContentLoaded', () => {
            $('add').addEventListener('click', () => oneAtATime(() => act('INIT', ADD_HELP, 'A QR code is ready to scan. If you cannot scan it, the button \u201cCan\u2019t scan? Enter this key instead\u201d above the code boxes shows its key as text.')));
            $('view').addEventListener('click', () => {
              if (busy) return;
              if (!$('panel').hidden) { hidePanel(); say('', 'info'); $('view').focus(); settle(); return; }
              oneAtATime(() => act('VIEW', viewHelp, viewAnnouncement));
            });
            $('regenerate').addEventListener('click', () => oneAtATime(() => act('REFRESH',
              'Scan this new QR code, then type a code from it and press Verify. Until you do, your current app keeps working.',
              'A new QR code is ready to scan.')));
            $('remove').addEventListener('click', () => { if (busy) return; $('confirm-remove').hidden = false; $('remove-no').focus(); });
            $('remove-no').addEventListener('click', () => { $('confirm-remove').hidden = true; $('remove').focus(); });
            $('confirm-remove').addEventListener('keydown', (event) => {
              if (event.key === 'Escape') { event.preventDefault(); $('confirm-remove').hidden = true; $('remove').focus(); }
            });
            $('remove-yes').addEventListener('click', () => oneAtATime(remove));
            $('reveal-key').addEventListener('click', () => oneAtATime(revealKey));
            $('cancel-regenerate').addEventListener('click', () => oneAtATime(cancelRegenerate));
            $('close-panel').addEventListener('click', () => { hidePanel(); say('', 'info'); ($('view').hidden ? $('add') : $('view')).focus(); settle(); });
            $('verify-form').addEventListener('submit', (event) => { event.preventDefault(); oneAtATime(verify); });
            $('signout').addEventListener('click', () => signOut('Signed out.'));
            $('login-form').addEventListener('submit', (event) => {
              event.preventDefault();
              signInAnnounced($('token').value).catch(() => {});
            });

            // A token in the fragment signs in, also when only the fragment changes (same page).
            // A link naming another user than the one signed in asks first: anyone can send a
            // link that would otherwise put their account on this person's phone.
            let offered = null;
            function tokenFromFragment() {
              const fromFragment = new URLSearchParams(window.location.hash.slice(1)).get('token');
              if (!fromFragment) return false;
              // Out of the address bar and history, so it is not bookmarked or shared by accident.
              window.history.replaceState(null, '', window.location.pathname);
              if (token && subject(fromFragment) !== subject(token)) {
                offered = fromFragment;
                $('switch-text').textContent = 'The link you opened signs in as ' + (subject(fromFragment) || 'another user')
                  + '. You are signed in as ' + (subject(token) || 'another user') + '. Switch to that account?';
                $('switch').hidden = false;
                $('switch-no').focus();
                return true;
              }
              hidePanel();
              signInAnnounced(fromFragment).catch(() => {});
              return true;
            }
            $('switch-yes').addEventListener('click', () => {
              const next = offered;
              offered = null;
              $('switch').hidden = true;
              if (!next) return;
              hidePanel();
              signInAnnounced(next).catch(() => {});
            });
            // Escape stays signed in, as Escape cancels the Remove dialog.
            $('switch').addEventListener('keydown', (event) => {
              if (event.key === 'Escape') { event.preventDefault(); $('switch-no').click(); }
            });
            $('switch-no').addEventListener('click', () => {
              offered = null;
              $('switch').hidden = true;
              say('You are still signed in as ' + (subject(token) || 'before') + '.', 'info');
              focusAction();
            });
            window.addEventListener('hashchange', tokenFromFragment);

            // Leaving the page signs out: the back/forward cache would otherwise bring the page
            // back with its token and QR code to whoever presses Back on a shared computer. A
            // reload (not kept in that cache) still says why it asks to sign in again.
            let leftSignedIn = false;
            window.addEventListener('pagehide', (event) => {
              if (!event.persisted || !token) return;
              leftSignedIn = true;
              signOut(null);
            });
            window.addEventListener('pageshow', (event) => {
              if (!event.persisted || !leftSignedIn) return;
              leftSignedIn = false;
              say('You were signed out because you left the page (the access token is never stored). Sign in again to continue.', 'error');
            });
            // Back in this tab: another window or device may have changed the authenticator, so
            // the row (and a QR code nothing waits for any more) is drawn from a fresh status.
            // What this tab said before (a refusal, "ready to scan") gives way to what happened.
            document.addEventListener('visibilitychange', () => {
              if (document.visibilityState !== 'visible' || !token || busy) return;
              const before = current;
              refresh().then(() => {
                // A QR code replaced elsewhere (another expiry) no longer takes codes either.
                if (shownExpiresAt && current.pendingExpiresAt !== shownExpiresAt) hidePanel();
                const text = changedElsewhere(before, current);
                if (text) { clearCodeError(); say(text, 'info'); }
              }).catch(() => {});
            });
            if (!tokenFromFragment()) {
              let reloaded = false;
              try { reloaded = window.sessionStorage.getItem('enroll-signed-in') === '1'; } catch (error) { /* storage off */ }
              signOut(reloaded ? 'You were signed out because the page was reloaded (the access token is never stored). Sign in again to continue.' : null);
            }
          });
        })();
        """#
}
