import Hummingbird

/// The Authenticator App page (`GET /myaccount`): Security › Additional Authentication, as a My
/// Account portal shows it, talking to the TOTP API of this server.
///
/// Everything it needs is served from here (no CDN, font or script from elsewhere, so it works
/// offline), and a Content-Security-Policy keeps it that way. The token comes from the URL
/// fragment (`/myaccount#token=…`, never sent to a server or written to its log) or from a sign-in
/// form; the page keeps it in memory only and removes the fragment from the address bar. QR codes
/// arrive as SVG drawn on the server by libqrencode.
enum MyAccountPage {
    /// The methods each path below is served with (for the `Allow` header of a 405).
    static let methods: [String: [HTTPRequest.Method]] = [
        "/": [.get, .head], "/myaccount": [.get, .head], "/myaccount/app.js": [.get, .head], "/myaccount/app.css": [.get, .head],
    ]

    static func register(on router: Router<ServerRequestContext>) {
        let pages: [(String, @Sendable () -> Response)] = [
            ("/", { Response(status: .seeOther, headers: [.location: "/myaccount"]) }),
            ("/myaccount", { asset(html, type: "text/html; charset=utf-8") }),
            ("/myaccount/app.js", { asset(script, type: "text/javascript; charset=utf-8") }),
            ("/myaccount/app.css", { asset(style, type: "text/css; charset=utf-8") }),
        ]
        for (path, page) in pages {
            router.get(RouterPath(path)) { _, _ in page() }
            router.head(RouterPath(path)) { _, _ in EnrollmentServer.head(page()) }
        }
    }

    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

    static func asset(_ text: String, type: String) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: type, .contentSecurityPolicy: contentSecurityPolicy, .cacheControl: "no-cache",
                .init("Referrer-Policy")!: "no-referrer", .init("X-Content-Type-Options")!: "nosniff",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static let html = #"""
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Security · My Account</title>
          <link rel="stylesheet" href="/myaccount/app.css">
          <link rel="icon" href="data:,">
        </head>
        <body>
          <a class="skip" href="#main">Skip to content</a>
          <header class="topbar">
            <span class="brand">My Account</span>
            <span class="who" id="who"></span>
            <button type="button" class="link" id="signout" hidden>Sign out</button>
          </header>
          <main id="main" tabindex="-1">
            <nav aria-label="Breadcrumb">
              <ol class="crumbs"><li>Security</li><li aria-current="page">Additional Authentication</li></ol>
            </nav>
            <h1>Security</h1>
            <div id="messages" class="message" role="status" aria-live="polite" aria-atomic="true"></div>

            <div id="switch" class="confirm switch" role="group" aria-labelledby="switch-text" hidden>
              <p id="switch-text"></p>
              <button type="button" id="switch-yes">Switch account</button>
              <button type="button" id="switch-no">Stay signed in</button>
            </div>

            <section id="login" class="card" aria-labelledby="login-title" hidden>
              <h2 id="login-title">Sign in</h2>
              <form id="login-form">
                <label for="token">Access token (JWT)</label>
                <textarea id="token" name="token" rows="4" required autocomplete="off" spellcheck="false"
                  aria-describedby="token-help"></textarea>
                <p id="token-help" class="help">Paste the access token your identity provider issued for you. It stays in this tab only.</p>
                <button type="submit" class="primary">Continue</button>
              </form>
            </section>

            <section id="security" class="card" aria-labelledby="aa-title" hidden>
              <h2 id="aa-title">Additional Authentication</h2>
              <p class="help">Add an extra layer of security to your account: after your password, sign-in asks for a code from an app on your phone.</p>
              <ul class="factors">
                <li class="factor" id="totp-row" data-state="unknown">
                  <svg class="factor-icon" viewBox="0 0 24 24" aria-hidden="true" focusable="false"><rect x="6" y="2" width="12" height="20" rx="2" fill="none" stroke="currentColor" stroke-width="1.6"/><circle cx="12" cy="18.5" r="1" fill="currentColor"/><path d="M9 9h6M9 12h6" stroke="currentColor" stroke-width="1.6"/></svg>
                  <div class="factor-text">
                    <h3 id="totp-title">Authenticator App</h3>
                    <p id="totp-state" class="state">Loading…</p>
                  </div>
                  <div class="actions" role="group" aria-labelledby="totp-title">
                    <button type="button" id="add" class="icon" aria-label="+ Add authenticator app" title="Add authenticator app" hidden>+</button>
                    <button type="button" id="view" class="icon" aria-label="Show QR code" title="Show QR code" aria-expanded="false" aria-controls="panel" hidden>
                      <svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="M1.5 12S5.5 4.5 12 4.5 22.5 12 22.5 12 18.5 19.5 12 19.5 1.5 12 1.5 12z" fill="none" stroke="currentColor" stroke-width="1.8"/><circle cx="12" cy="12" r="3.2" fill="none" stroke="currentColor" stroke-width="1.8"/></svg>
                    </button>
                    <button type="button" id="regenerate" hidden>Regenerate</button>
                    <button type="button" id="remove" class="danger" hidden>Remove</button>
                  </div>
                </li>
              </ul>

              <div id="confirm-remove" class="confirm" role="group" aria-labelledby="confirm-text" hidden>
                <p id="confirm-text">Remove the authenticator app? Sign-in will no longer ask for its codes.</p>
                <button type="button" id="remove-yes" class="danger">Yes, remove</button>
                <button type="button" id="remove-no">Cancel</button>
              </div>

              <div id="panel" class="panel" role="region" aria-labelledby="panel-title" hidden>
                <h3 id="panel-title" tabindex="-1">Scan this QR code</h3>
                <p id="panel-help" class="help"></p>
                <div id="qr" class="qr"></div>
                <div id="manual" class="manual" hidden>
                  <button type="button" id="reveal-key" class="link" aria-expanded="false" aria-controls="manual-key">Can’t scan? Enter this key instead</button>
                  <div id="manual-key" hidden>
                    <p class="help">In your authenticator app, choose to enter a setup key, and type this key (spaces do not matter).</p>
                    <dl class="key-details">
                      <dt>Account</dt><dd id="key-account"></dd>
                      <dt>Key</dt><dd><code id="key-text" class="key"></code></dd>
                      <dt>Type</dt><dd id="key-type"></dd>
                    </dl>
                  </div>
                </div>
                <form id="verify-form" hidden>
                  <fieldset>
                    <legend id="code-legend">Enter the code your app shows</legend>
                    <div id="code-boxes" class="code-boxes"></div>
                  </fieldset>
                  <p id="code-error" class="code-error" hidden></p>
                  <button type="submit" id="verify" class="primary">Verify</button>
                </form>
                <button type="button" id="cancel-regenerate" hidden>Cancel Regenerate</button>
                <button type="button" id="close-panel" class="link">Hide QR code</button>
              </div>
            </section>
          </main>
          <script src="/myaccount/app.js"></script>
        </body>
        </html>
        """#
}
