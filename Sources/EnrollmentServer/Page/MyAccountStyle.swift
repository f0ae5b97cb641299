extension MyAccountPage {
    /// System fonts only: nothing is fetched from elsewhere.
    static let style = #"""
        /* --accent: 5.3:1 against white (WCAG 1.4.3 AA asks 4.5:1 for the 16-px Verify and Continue, white on it, and the brand). */
        :root { --accent: #b34d00; --ink: #1f2328; --muted: #57606a; --line: #d8dee4; --ok: #1a7f37; --bad: #cf222e; --bg: #f6f8fa; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--ink); background: var(--bg); }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 2; }
        .topbar { display: flex; gap: 16px; align-items: center; padding: 12px 24px; background: #fff; border-bottom: 1px solid var(--line); }
        .brand { font-weight: 700; color: var(--accent); }
        .who { margin-left: auto; color: var(--muted); min-width: 0; overflow-wrap: anywhere; } /* a 256-byte user id in one word */
        .topbar button { flex: none; }
        main { max-width: 760px; margin: 0 auto; padding: 16px 24px 48px; outline: none; }
        .crumbs { list-style: none; display: flex; gap: 8px; padding: 0; margin: 8px 0; color: var(--muted); font-size: 14px; }
        .crumbs li + li::before { content: "›"; margin-right: 8px; }
        h1 { font-size: 28px; margin: 4px 0 16px; }
        h2 { font-size: 20px; margin: 0 0 4px; }
        h3 { font-size: 17px; margin: 0; }
        .card { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 20px 24px; }
        .help { color: var(--muted); margin: 4px 0 12px; }
        .message { min-height: 1.5em; margin: 0 0 12px; padding: 0; }
        .message:not(:empty) { padding: 10px 14px; border-radius: 6px; border: 1px solid var(--line); background: #fff; }
        .message.success { border-color: var(--ok); color: var(--ok); }
        .message.error { border-color: var(--bad); color: var(--bad); }
        .factors { list-style: none; padding: 0; margin: 12px 0 0; border-top: 1px solid var(--line); }
        .factor { display: flex; flex-wrap: wrap; align-items: center; gap: 12px 16px; padding: 14px 0; border-bottom: 1px solid var(--line); }
        .factor-icon { width: 32px; height: 32px; color: var(--muted); flex: none; }
        /* The actions wrap under the text when both do not fit on one line (a phone, 400 % zoom). */
        .factor-text { flex: 1 1 12em; min-width: 0; overflow-wrap: anywhere; }
        .state { margin: 0; color: var(--muted); }
        .factor[data-state="active"] .state .enabled { color: var(--ok); font-weight: 600; }
        .actions { display: flex; gap: 8px; flex-wrap: wrap; margin-left: auto; max-width: 100%; }
        button { font: inherit; border: 1px solid var(--line); background: #fff; color: var(--ink); border-radius: 6px; padding: 6px 14px; cursor: pointer; }
        button:hover { border-color: var(--muted); }
        button:focus-visible, input:focus-visible, textarea:focus-visible, h3:focus-visible { outline: 3px solid #0969da; outline-offset: 2px; }
        button.icon { width: 40px; height: 40px; padding: 0; font-size: 24px; line-height: 1; display: inline-flex; align-items: center; justify-content: center; }
        button.icon svg { width: 22px; height: 22px; }
        button.primary { background: var(--accent); border-color: var(--accent); color: #fff; font-weight: 600; }
        button.danger { color: var(--bad); }
        button.link { border: none; background: none; color: #0969da; padding: 4px 0; text-decoration: underline; }
        button[aria-disabled="true"] { opacity: 0.6; cursor: progress; }
        .code-error { color: var(--bad); margin: 0 0 12px; }
        .manual { margin: 0 0 8px; }
        .key-details { display: grid; grid-template-columns: auto 1fr; gap: 4px 12px; margin: 8px 0; }
        .key-details dt { color: var(--muted); }
        .key-details dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
        .key { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 18px; letter-spacing: 0.05em; }
        [hidden] { display: none !important; }
        .panel, .confirm { margin-top: 16px; padding: 16px; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); }
        .confirm.switch { margin: 0 0 16px; background: #fff; }
        .qr { display: inline-block; background: #fff; padding: 8px; margin: 8px 0; }
        .qr { max-width: 100%; }
        .qr svg { display: block; width: 264px; max-width: 100%; height: auto; aspect-ratio: 1; }
        /* min-width: a fieldset is as wide as its content by default, so 8 boxes would not shrink on a phone. */
        fieldset { border: none; padding: 0; margin: 8px 0 12px; min-width: 0; min-inline-size: 0; }
        legend { padding: 0; margin-bottom: 8px; font-weight: 600; }
        .code-boxes { display: flex; gap: 8px; }
        .digit { flex: 0 1 44px; min-width: 0; width: 44px; height: 52px; text-align: center; font-size: 24px; font-family: ui-monospace, "DejaVu Sans Mono", monospace; border: 1px solid var(--muted); border-radius: 6px; }
        textarea { width: 100%; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 13px; padding: 8px; border: 1px solid var(--muted); border-radius: 6px; }
        label { display: block; font-weight: 600; margin-bottom: 4px; }
        /* A phone, where the authenticator app is: every box and the QR code stay on screen. */
        @media (max-width: 480px) {
          .topbar { padding: 10px 12px; }
          main { padding: 12px 10px 32px; }
          .card { padding: 14px 12px; }
          .panel, .confirm { padding: 10px; }
          .code-boxes { gap: 4px; }
          .digit { height: 46px; font-size: 20px; }
          .actions { flex-basis: 100%; margin-left: 48px; }
        }
        """#
}
