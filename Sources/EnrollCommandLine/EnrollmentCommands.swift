import ArgumentParser
import Enrollment
import Foundation
import OneTimePassword
import QRCode

/// `enroll request USER`: "+" in My Account.
struct RequestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Generate a secret for USER and show it as a QR code to scan with an authenticator app.",
        discussion: "The secret stays pending until `enroll confirm USER CODE` proves the app shows the right codes (within 10 minutes).")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: UserCommandOptions
    @OptionGroup var secretOptions: SecretOptions
    @OptionGroup var display: QRDisplayOptions

    func run() throws {
        let options = try global.reporting { try secretOptions.options() }
        var discarded: UnixTime?, newUser = false
        let (outcome, created) = try global.reporting {
            let envelope = target.envelope(.requestEnrollment(options), json: global.json)
            // Bad input (names too long for a QR code) leaves no new database or key file; nor
            // does an id no new user may have, when there is no journal yet to hold it.
            _ = try EnrollmentService.checkInput(envelope)
            if !FileManager.default.fileExists(atPath: global.databasePath) { try Validation.newIdentity(target.user, error: InputError.invalidUser) }
            let service = try global.service(create: true)
            let before = try service.load(target.user)
            newUser = before.version == 0
            // A first secret still awaiting its code, which a new request discards.
            discarded = before.pending.flatMap { pending in
                pending.isReplacement || pending.expiresAt <= global.clock.now() ? nil : pending.expiresAt
            }
            return (try service.handle(envelope), service.created)
        }
        global.noteCreated(created)
        if newUser, outcome.accepted, !TextField.isComposed(outcome.user) {
            // `cafe\u0301` and `café` look alike but are two users (ids are compared byte for byte).
            Terminal.note("the new user id \(TextField.quoted(outcome.user)) is not in Unicode's composed form (NFC, what keyboards type): it is another user than \(TextField.quoted(outcome.user.precomposedStringWithCanonicalMapping)), though the two look alike; if that user was meant, type the id composed")
        }
        if let discarded, outcome.accepted, !outcome.replayed, !global.json {
            // The QR code scanned before stops working, and the app may list both entries.
            Terminal.note("this replaces \(TextField.quoted(outcome.user))'s secret requested earlier (it was to expire at \(Timestamps.iso8601(discarded))): its QR code no longer works; scan the new one, and delete the older entry from the app if it was added")
        }
        try showIssuedSecret(outcome, global: global, display: display, replacing: outcome.accepted && !outcome.replayed ? discarded : nil)
    }
}

/// `enroll regenerate USER`: a replacement secret; the active one stays in use until it is confirmed.
struct RegenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "regenerate",
        abstract: "Generate a replacement secret for USER and show its QR code.",
        discussion: "The current secret stays active until a code from the new one is confirmed, so an abandoned regenerate never locks anyone out.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: UserCommandOptions
    @OptionGroup var changes: SecretChanges
    @OptionGroup var display: QRDisplayOptions

    func validate() throws {
        // Checked as far as they can be without the active secret (the rest when it is read).
        do { _ = try changes.options(keeping: EnrollmentOptions()) } catch let error as InputError { throw CodedValidation.error(error) }
    }

    func run() throws {
        let outcome = try global.reporting {
            let service = try global.service(create: false)
            // What is not given is kept from the active secret (nothing given: keep it all).
            var options: EnrollmentOptions?
            if changes.any, let active = try service.load(target.user).active {
                // An account that is the user id is the default, left to the decider: a user id
                // may hold what a typed account may not (':', percent-encoded in the label).
                let account = active.account == target.user ? nil : active.account
                options = try changes.options(keeping: EnrollmentOptions(issuer: active.issuer, account: account, parameters: active.parameters))
            }
            return try service.handle(target.envelope(.regenerateSecret(options), json: global.json))
        }
        try showIssuedSecret(outcome, global: global, display: display)
    }
}

/// Settings a replacement secret may change; each one left out keeps the active secret's.
struct SecretChanges: ParsableArguments {
    @Option(help: ArgumentHelp("A new issuer shown in the app, 1-128 characters, no ':' (default: the active secret's).", valueName: "name"))
    var issuer: String?

    @Option(help: ArgumentHelp("A new account name shown in the app, 1-256 bytes, no ':' (default: the active secret's).", valueName: "name"))
    var account: String?

    @Option(help: ArgumentHelp("A new HMAC algorithm: SHA1, SHA256 or SHA512 (default: the active secret's).", valueName: "SHA1|SHA256|SHA512"))
    var algorithm: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("New digits per code: 6, 7 or 8 (default: the active secret's).", valueName: "n"))
    var digits: String?

    @Option(parsing: .unconditional, help: ArgumentHelp("New seconds per code: 1-3600 (default: the active secret's).", valueName: "seconds"))
    var period: String?

    var any: Bool { issuer != nil || account != nil || algorithm != nil || digits != nil || period != nil }

    /// `current` with the settings given here, validated as a request's are.
    func options(keeping current: EnrollmentOptions) throws -> EnrollmentOptions {
        try Self.apply(issuer: issuer, account: account, algorithm: algorithm, digits: digits, period: period, to: current)
    }

    /// The settings as typed (`nil`: keep `current`'s), read and validated: shared with
    /// ``SecretOptions``, whose defaults are a new secret's.
    static func apply(
        issuer: String?, account: String?, algorithm: String?, digits: String?, period: String?, to current: EnrollmentOptions
    ) throws -> EnrollmentOptions {
        var options = try Validation.naming(current, issuer: issuer, account: account)
        if let algorithm { options.parameters.algorithm = try Validation.algorithm(algorithm) }
        if let digits { options.parameters.digits = try Validation.number(digits, option: "--digits", expected: "6, 7 or 8") }
        if let period { options.parameters.period = try Validation.number(period, option: "--period", expected: "between 1 and 3600 seconds") }
        return try Validation.options(options)
    }
}

/// How a new secret is to be set up in the app: what `request` and `serve` share (the server
/// has no `--account`: each user's account name is their id).
public struct SecretSettings: ParsableArguments {
    @Option(help: ArgumentHelp("The issuer shown in the authenticator app, 1-128 characters, no ':'.", valueName: "name"))
    var issuer: String = EnrollmentOptions.defaultIssuer

    @Option(help: ArgumentHelp("HMAC algorithm: SHA1 (what most apps support), SHA256 or SHA512.", valueName: "SHA1|SHA256|SHA512"))
    var algorithm: String = "SHA1"

    // Numbers are read as text (and `-5` as a value, not an option) so that every bad value
    // gets a message that says what to type instead.
    @Option(parsing: .unconditional, help: ArgumentHelp("Digits per code: 6, 7 or 8.", valueName: "n"))
    var digits: String = "6"

    @Option(parsing: .unconditional, help: ArgumentHelp("Seconds per code: 1-3600 (30 is what apps expect).", valueName: "seconds"))
    var period: String = "30"

    public init() {}

    public func options(account: String? = nil) throws -> EnrollmentOptions {
        try SecretChanges.apply(issuer: issuer, account: account, algorithm: algorithm, digits: digits, period: period, to: EnrollmentOptions())
    }

    public func validate() throws {
        do { _ = try options() } catch let error as InputError { throw CodedValidation.error(error) }
    }
}

/// `request`'s settings: the shared ones and the account name shown in the app.
struct SecretOptions: ParsableArguments {
    @OptionGroup var settings: SecretSettings

    @Option(help: ArgumentHelp("The account name shown in the app, 1-256 bytes, no ':' (default: the user).", valueName: "name"))
    var account: String?

    func options() throws -> EnrollmentOptions { try settings.options(account: account) }

    func validate() throws {
        do { _ = try options() } catch let error as InputError { throw CodedValidation.error(error) }
    }
}

/// How the QR code is drawn in a terminal (request, regenerate, reveal).
struct QRDisplayOptions: ParsableArguments {
    enum Background: String {
        case dark, light
    }

    /// Text, so that ENROLL_TERMINAL_BACKGROUND and the option are refused with one message.
    @Option(
        name: .customLong("terminal-background"),
        help: ArgumentHelp(
            "dark (default: light text on a dark background) or light (dark text on white), so that the QR code's dark modules come out dark (env ENROLL_TERMINAL_BACKGROUND).",
            valueName: "dark|light"))
    var terminalBackground: String?

    var background: Background {
        (terminalBackground ?? Environment["ENROLL_TERMINAL_BACKGROUND"]).flatMap { Background(rawValue: $0.lowercased()) } ?? .dark
    }

    func validate() throws {
        let (source, value) = terminalBackground.map { ("--terminal-background", $0) } ?? ("ENROLL_TERMINAL_BACKGROUND", Environment["ENROLL_TERMINAL_BACKGROUND"])
        if let value, Background(rawValue: value.lowercased()) == nil {
            throw ValidationError("\(source) must be dark or light, not '\(value.prefix(32))'; pick the one your terminal's background is")
        }
    }

    /// The code for this terminal: glyphs are painted in the text colour, so on a dark background
    /// they draw the light modules, and on a light one the dark modules. Printed on a terminal
    /// narrower than the code, its lines wrap and no app can scan it: a warning says what to do.
    /// `files`: the ` --db …` and ` --key-file …` the command suggested must name (``CommandOptions/fileArguments``).
    func terminalString(_ qr: QRCode, user: String, files: String, printed: Bool = true) -> String {
        if printed, let columns = Terminal.columns, columns < qr.sideWithQuietZone {
            Terminal.warning(
                "the QR code is \(qr.sideWithQuietZone) columns wide but the terminal has \(columns), so its lines wrap and it cannot be scanned",
                hint: "widen the terminal or make its font smaller, write an image with \(GlobalOptions.suggested("reveal --format png --output FILE", files: files, user: user)), or type the secret from the URI below into the app")
        }
        return qr.terminalString(invert: background == .dark)
    }
}

/// Prints the outcome of a command that issued a secret: QR code and URI, or JSON.
/// `replacing`: when the first secret this request discarded (still awaiting its code) was to expire.
func showIssuedSecret(_ outcome: CommandOutcome, global: GlobalOptions, display: QRDisplayOptions, replacing: UnixTime? = nil) throws {
    if let rejection = outcome.rejection { throw global.refusal(rejection, of: outcome) }
    guard let uri = outcome.state.currentURI()?.string else { throw global.refusal(.secretUnavailable, of: outcome) }
    if global.json {
        var object: [String: Any?] = [
            "user": outcome.user, "status": outcome.state.status.rawValue, "otpauthURI": uri,
            "qrCodeUrl": Data(uri.utf8).base64EncodedString(),
            "replacementPending": outcome.state.pending?.isReplacement ?? false,
            "expiresAt": outcome.state.pending.map { Timestamps.iso8601($0.expiresAt) },
        ]
        // The note's fact, for a script: the QR code shown before no longer works.
        if let replacing { object["replacedPendingExpiringAt"] = Timestamps.iso8601(replacing) }
        Terminal.json(object)
        return
    }
    let qr = try QRCode(encoding: uri)
    Terminal.line(display.terminalString(qr, user: outcome.user, files: global.fileArguments))
    Terminal.line(uri)
    if let pending = outcome.state.pending {
        var hint = "Scan it, then run \(global.suggested("confirm", user: outcome.user, then: " CODE")) with the code the app shows (before \(Timestamps.iso8601(pending.expiresAt)))."
        if pending.isReplacement { hint += " The current secret stays active until this one is confirmed." }
        Terminal.line(hint)
    }
}

/// `enroll confirm USER CODE`: Verify.
struct ConfirmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "confirm",
        abstract: "Check the code the authenticator app shows; a right code activates the pending secret.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: UserCommandOptions

    @Argument(help: ArgumentHelp(
        "The code the app shows now (6-8 digits; spaces, as in \"123 456\", are dropped), or - to read it from standard input, which keeps it out of the process list.",
        valueName: "code"))
    var code: String

    func run() throws {
        let typed = self.code == "-" ? try global.reporting { try Self.codeFromStandardInput() } : self.code
        // Checked here rather than in validate(), so that with --json the refusal is a JSON object
        // with its own code (invalid_code_format); still before the database is opened.
        let code: String
        do {
            code = try global.reporting { try Validation.typedCode(typed) }
        } catch var failure as CLIFailure {
            // `enroll confirm 123456 lee`: the user id is the code, and the code a name.
            // Not for a code read from standard input (echoing it would defeat `-`), nor for
            // digits of the wrong length typed for a user id that is all digits.
            if self.code != "-", typed.contains(where: \.isLetter), (try? Validation.typedCode(target.user)) != nil {
                failure.message += "; the user comes first, then the code: \(global.suggested("confirm", user: typed, then: " " + TextField.shellWord(target.user)))?"
            }
            throw failure
        }
        let (outcome, current) = try global.reporting { try target.handle(.confirmCode(code), global: global) }
        let now = global.clock.now()
        let status = current.status(at: now), live = current.livePending(at: now)
        // A refusal repeated for its command id is said to be the first one.
        let refusal = outcome.rejection.map { rejection in
            // Its suggestions (`enroll verify`) name the --db given, as every refusal's do.
            let said = global.naming(message(for: rejection, outcome.state, user: outcome.user, lockedUntil: outcome.lockedUntil(at: now)))
            return outcome.replayed ? CLIFailure.repeatedRefusal(commandId: outcome.commandId, message: said) : said
        }
        if global.json {
            Terminal.json([
                // `error` as every command's refusal has it; `reason` as this object always had.
                "user": outcome.user, "accepted": outcome.accepted, "status": status.rawValue, "error": outcome.rejection?.code,
                "reason": outcome.rejection?.code, "message": refusal,
                "replacementPending": live?.isReplacement ?? false, "replayed": outcome.replayed,
            ])
        }
        if let rejection = outcome.rejection {
            Terminal.error(refusal ?? "", hint: rejection.code)
            throw ExitCode(rejection.isBadInput ? CLIExit.badInput : CLIExit.refused)
        }
        guard !global.json else { return }
        let replaced = outcome.events.contains { if case .authenticatorActivated(let activated) = $0 { activated.replacedPrevious } else { false } }
        if outcome.replayed {
            Terminal.line(target.repeated("its code was accepted then", current, at: now))
        } else if replaced {
            // The app may list the old entry beside the new one, under the same name.
            Terminal.line("Code accepted: the new secret is now active for \(TextField.quoted(outcome.user)), and the previous one is retired. Delete the older entry for this account from the authenticator app (the one added first): its codes no longer work.")
        } else {
            Terminal.line("Code accepted: the authenticator app is now active for \(TextField.quoted(outcome.user)).")
        }
    }
}

extension ConfirmCommand {
    /// `enroll confirm USER -`: the code is the first line of standard input (a terminal is asked
    /// for it on stderr), so that it never shows in `ps` or a shell's history. `Validation.code`
    /// then judges the line as it judges an argument.
    static func codeFromStandardInput() throws(InputError) -> String {
        if isatty(STDIN_FILENO) == 1 { Terminal.emit(Array("Code: ".utf8), to: STDERR_FILENO) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        // Reading stops at the line's end, at the end of input, or once the line is longer than any
        // code could be (nothing is left waiting on a pipe that never ends).
        while line.count <= 64, read(STDIN_FILENO, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        if line.last == UInt8(ascii: "\r") { line.removeLast() }
        if line.isEmpty { throw .invalidCode("standard input held no code (confirm USER - reads the code from its first line)") }
        if line.count > 64 { throw .invalidCode("the first line of standard input is longer than 64 bytes") }
        return String(decoding: line, as: UTF8.self)
    }

    /// The refusal's message; for a wrong code while a replacement is pending, which of the app's
    /// entries to read: after a regenerate the app may list the old entry beside the new one
    /// under the same name. The same words for every wrong code, so that nobody learns whether
    /// a code was the old secret's.
    /// `lockedUntil`: the end of a lock still running, which advice to get a new secret waits for.
    func message(for rejection: EnrollmentRejection, _ state: AuthenticatorState, user: String, lockedUntil: UnixTime?) -> String {
        // A lock can outlast the secret it guards (a 15-minute lock, a 10-minute secret): then
        // waiting for it to end does not help by itself.
        if case .locked(let until) = rejection, let lost = state.secretLost(beforeLockEnds: until) {
            let again = lost.isReplacement ? "regenerate" : "request"
            let expiry = lost.expiresAt.map { "the QR code expires before then (at \(Timestamps.iso8601($0)))" } ?? "the new QR code from regenerate has expired"
            return "confirmation is locked until \(Timestamps.iso8601(until)) after too many wrong codes, and \(expiry); once the lock ends, \(again) again for a new QR code"
                + (lost.isReplacement ? " (the authenticator already active stays in use meanwhile)" : "")
        }
        // A code of another length than the secret's: an app that ignores the digits it asks for
        // shows six, and only a secret of the usual settings mends that.
        if case .malformedCode = rejection, let pending = state.pending {
            return rejection.message(lockedUntil: lockedUntil, user: user) + unusualParameters(pending.credential, user: user, replacing: pending.isReplacement ? state.active : nil)
                + global.advice(for: rejection, user: user, state: state)
        }
        guard case .invalidCode(let remaining) = rejection, let pending = state.pending else {
            return rejection.message(lockedUntil: lockedUntil, user: user) + global.advice(for: rejection, user: user, state: state)
        }
        let wrong = pending.isReplacement
            ? "the code is not correct for the replacement secret; if the app shows two entries for this account, type the code of the one scanned last, and check the app's clock (\(remaining) attempt\(remaining == 1 ? "" : "s") left before a lock)"
            : rejection.message
        return wrong + unusualParameters(pending.credential, user: user, replacing: pending.isReplacement ? state.active : nil)
    }

    /// For a wrong code, when the secret asks for what some apps ignore (another hash than SHA1,
    /// another step than 30 seconds, another length than 6 digits): such an app shows codes
    /// that never match, which no clock setting mends. Empty for the defaults. The command that
    /// asks for the defaults keeps the issuer and account of `credential`; `active` is the secret
    /// a replacement would replace (nil for a first secret).
    func unusualParameters(_ credential: Credential, user: String, replacing active: Credential?) -> String {
        let replacement = active != nil
        let parameters = credential.parameters
        // "8-digit SHA512 codes and a 60-second step"
        var codes: [String] = []
        if parameters.digits != OTPParameters.default.digits { codes.append("\(parameters.digits)-digit") }
        if parameters.algorithm != OTPParameters.default.algorithm { codes.append(parameters.algorithm.rawValue) }
        var unusual = codes.isEmpty ? [] : [codes.joined(separator: " ") + " codes"]
        if parameters.period != OTPParameters.default.period { unusual.append("a \(parameters.period)-second step") }
        guard !unusual.isEmpty else { return "" }
        let defaults = "--algorithm SHA1 --period 30 --digits 6"
        // `--issuer=-x`: a value that starts with '-' would be read as an option after a space.
        func option(_ name: String, _ value: String) -> String { " --\(name)\(value.hasPrefix("-") ? "=" : " ")\(TextField.shellWord(value))" }
        // An option is given only where leaving it out would not keep the value: a request's
        // defaults are the default issuer and the user id, a regenerate's the active secret's
        // (whose account, when it is the user id, is the user id again). A user id may hold what
        // a typed account may not (':', percent-encoded in the label), so it is left out when it
        // can be.
        let issuerLeftOut = active?.issuer ?? EnrollmentOptions.defaultIssuer
        let accountLeftOut = active?.account ?? user
        var kept = ""
        if credential.issuer != issuerLeftOut { kept += option("issuer", credential.issuer) }
        if credential.account != accountLeftOut { kept += option("account", credential.account) }
        let again = replacement
            ? "cancel it (\(global.suggested("cancel", user: user))), then \(global.suggested("regenerate " + defaults + kept, user: user))"
            : "request again: \(global.suggested("request " + defaults + kept, user: user))"
        return "; this secret asks for \(unusual.joined(separator: " and ")), which some apps ignore, showing codes that never match: if yours keeps failing, \(again)"
    }
}

/// `enroll reveal USER`: the eye icon.
struct RevealCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reveal",
        abstract: "Show the QR code of the secret a confirmation would check now (pending, else active).")

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case terminal, uri, svg, png

        /// In any case, as `--algorithm` and `--durability` are taken (`PNG`, `Svg`).
        init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    }

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: UserCommandOptions

    @Option(help: ArgumentHelp("How to show it: terminal, uri (the otpauth URI alone, recorded as the secret shown as text), svg or png.", valueName: "format"))
    var format: Format = .terminal

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("Write the image or URI to this file instead of stdout ('-': stdout).", valueName: "file"))
    var outputOption: String?
    var output: String? { OutputFile.named(outputOption) }

    @OptionGroup var display: QRDisplayOptions

    func validate() throws {
        // (With --json only the JSON object goes to stdout.)
        if format == .png && output == nil && !global.json && isatty(STDOUT_FILENO) == 1 {
            throw ValidationError("a PNG is binary; pass --output FILE (or redirect stdout)")
        }
        // Checked before the reveal is recorded, so the journal never shows a reveal nobody saw.
        if let output { _ = try OutputFile.resolve(output, protecting: global.protectedFiles) }
    }

    func run() throws {
        // The file is created before the reveal is recorded: a place that cannot be written is
        // refused with nothing recorded. Mode 0600, as for the key file: it holds the secret.
        let file = try output.map { output in
            do { return try OutputFile.open(output, protecting: global.protectedFiles, mode: 0o600, json: global.json) } catch let failure as CLIFailure { throw global.failure(failure) }
        }
        defer { file?.discard() }
        let service = try global.reporting { try global.service(create: false) }
        // So is room for the bytes the reveal shows: reserved once the reveal is decided and
        // before it is written, in its transaction (no other command can change the secret in
        // between). A disk without room refuses the reveal with nothing recorded, not after it
        // (an empty file fits where its contents do not).
        var reserved: (uri: String, bytes: [UInt8])?
        let outcome = try global.reporting {
            // The otpauth URI alone holds the secret in the clear, with no QR code: recorded as
            // shown as text, as GET /me/totp/secret is. So is `--json` in any format, whose
            // object carries the URI and draws no QR code.
            try service.handle(target.envelope(format == .uri || global.json ? .revealSecretText : .revealQRCode)) { state in
                guard let file, let uri = state.currentURI()?.string else { return }
                let bytes = try render(uri, user: target.user, issuer: state.current?.issuer)
                do { try file.reserve(bytes.count) } catch let failure as CLIFailure { throw global.failure(failure) }
                reserved = (uri, bytes)
            }
        }
        if let rejection = outcome.rejection { throw global.refusal(rejection, of: outcome) }
        guard let uri = outcome.state.currentURI()?.string else { throw global.refusal(.secretUnavailable, of: outcome) }
        let bytes = try reserved.flatMap { $0.uri == uri && outcome.user == target.user ? $0.bytes : nil }
            ?? render(uri, user: outcome.user, issuer: outcome.state.current?.issuer, printed: file == nil && !global.json)
        if let file {
            do {
                try file.writeWhole(bytes)
                try file.commit()
            } catch let failure as CLIFailure {
                throw global.failure(failure)
            }
        }
        if global.json {
            Terminal.json([
                "user": outcome.user, "status": outcome.state.status.rawValue, "otpauthURI": uri,
                "qrCodeUrl": Data(uri.utf8).base64EncodedString(),
                // Which secret was shown, as the journal's `QRCodeRevealed` names it (not "secret",
                // which in the API's answers is the Base32 secret itself).
                "target": outcome.state.currentRole?.rawValue,
                "output": output,
            ])
        } else if output == nil {
            Terminal.emit(bytes, to: STDOUT_FILENO)
        }
    }

    /// What the reveal shows of `uri`, in the format asked for. `printed`: the terminal's code
    /// is printed on this terminal (which a code too wide for it is warned about).
    func render(_ uri: String, user: String, issuer: String?, printed: Bool = false) throws -> [UInt8] {
        switch format {
        case .terminal:
            Array((display.terminalString(try QRCode(encoding: uri), user: user, files: global.fileArguments, printed: printed) + "\n" + uri + "\n").utf8)
        case .uri: Array((uri + "\n").utf8)
        case .svg: Array(try QRCode(encoding: uri).svg(title: "QR code for \(issuer ?? "")").utf8)
        case .png: try QRCode(encoding: uri).png()
        }
    }
}

/// `enroll remove USER`.
struct RemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove USER's authenticator and destroy the key that sealed its secrets.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: UserCommandOptions

    func run() throws {
        let (outcome, current) = try global.reporting { try target.handle(.removeAuthenticator, global: global) }
        if case .notEnrolled = outcome.rejection {
            // Not "request one first": whoever removes wants none, and likely mistyped the id.
            throw global.refusal(.notEnrolled, of: outcome, saying: "no authenticator is enrolled for user \(TextField.quoted(outcome.user)), so there is nothing to remove; check the user id (\(global.suggested("history", user: outcome.user, opensSecrets: false)) shows what the journal holds for it)")
        }
        if let rejection = outcome.rejection { throw global.refusal(rejection, of: outcome) }
        let now = global.clock.now()
        if global.json {
            Terminal.json(["user": outcome.user, "status": current.status(at: now).rawValue, "removed": true, "replayed": outcome.replayed])
        } else if outcome.replayed {
            Terminal.line(target.repeated("it removed the authenticator then", current, at: now))
        } else {
            // Nothing active: a secret that awaited its code, or one that expired waiting.
            let hadActive = outcome.events.contains { if case .authenticatorRemoved(let removed) = $0 { removed.hadActive } else { false } }
            Terminal.line(hadActive
                ? "Removed the authenticator of \(TextField.quoted(outcome.user)); its secrets can no longer be read."
                : "Removed the unconfirmed enrollment of \(TextField.quoted(outcome.user)); its secret can no longer be read.")
        }
    }
}

/// `enroll cancel USER`: the page's "Cancel" under a QR code from Regenerate.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Cancel USER's regenerate: discard the new secret awaiting its code; the active one stays.",
        discussion: "Recorded as ReplacementCancelled. Only a new secret from regenerate can be cancelled; a first secret awaiting its code is discarded with remove.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var target: UserCommandOptions

    func run() throws {
        let (outcome, current) = try global.reporting { try target.handle(.cancelRegenerate, global: global) }
        if let rejection = outcome.rejection { throw global.refusal(rejection, of: outcome) }
        let now = global.clock.now()
        if global.json {
            Terminal.json(["user": outcome.user, "status": current.status(at: now).rawValue, "cancelled": true, "replayed": outcome.replayed])
        } else if outcome.replayed {
            Terminal.line(target.repeated("it cancelled a regenerate then", current, at: now))
        } else {
            Terminal.line("Cancelled the regenerate of \(TextField.quoted(outcome.user)): the new secret is discarded, and the authenticator already active stays in use. If you added an app entry from the new QR code, delete it; if the app replaced its entry for the active secret with it, scan the active QR code again: \(global.suggested("reveal", user: outcome.user)).")
        }
    }
}

/// `enroll status USER`.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show USER's authenticator: status, settings, pending replacement, lock.")

    @OptionGroup var global: ReadOptions

    @OptionGroup var subject: UserArgument
    var user: String { subject.user }

    func run() throws {
        try StatusReport(user: user, databasePath: global.databasePath, json: global.json, clock: global.clock).show()
    }
}

/// What `enroll status` shows, from plain values: run by ``StatusCommand`` and by
/// ``StatusFastPath``, which reads the common command lines without the argument parser.
struct StatusReport {
    let user: String
    let databasePath: String
    let json: Bool
    let clock: any EnrollmentClock

    func show() throws {
        // No file, an empty one or one without our tables is refused as every other reader
        // refuses it (exit 3): "none" for a mistyped --db would tell a script that the user
        // never enrolled. Reading never turns such a file into a database.
        var file = stat()
        let summary: AuthenticatorSummary
        // (An id with a space at either end goes the general way, which asks the journal for it.)
        if !Validation.isSpaced(user), stat(databasePath, &file) == 0, file.st_size > 0,
           let quick = AuthenticatorsProjection.quickRead(user: user, databasePath: databasePath) {
            // The plain case without setting up GRDB; every other case, and every error, below.
            summary = quick
        } else {
            summary = try GlobalOptions.reporting(json: json, database: databasePath) {
                let database = try EnrollmentDatabase(path: databasePath, options: DatabaseOptions(create: false))
                if Validation.isSpaced(user) { try Validation.spacedUser(user, recorded: try database.holds(user)) }
                return try database.summary(of: user)
            }
        }
        // One moment for the whole report. A pending secret past its expiry is recorded as expired
        // by the next command; until then every line below says it is over, as the API's status does.
        let now = clock.now()
        let expired = summary.pendingPastExpiry(at: now)
        let status = summary.status(at: now)
        // Once a command has recorded that expiry the row is back to none, but it keeps when the
        // secret was requested (a removal clears that too): say what became of it. Likewise a
        // replacement whose expiry was recorded: an active row keeps a request time only for a
        // replacement issued since its activation, here no longer pending.
        let expiryRecorded = summary.status == .none && summary.requestedAt != nil
        let replacementExpiryRecorded = summary.status == .active && !summary.replacementPending && summary.requestedAt != nil
        let replacementLive = summary.replacementPending(at: now)
        if json {
            Terminal.json([
                "user": summary.user, "status": status.rawValue, "algorithm": summary.algorithm,
                "digits": summary.digits, "period": summary.period, "issuer": summary.issuer, "account": summary.account,
                "replacementPending": replacementLive,
                "replacement": replacementLive ? summary.replacement.map { settings -> [String: Any] in
                    let fields: [String: Any?] = [
                        "issuer": settings.issuer, "account": settings.account, "algorithm": settings.algorithm,
                        "digits": settings.digits, "period": settings.period,
                    ]
                    return fields.compactMapValues { $0 }
                } : nil,
                "pendingExpiresAt": summary.pendingExpiresAt.map(Timestamps.iso8601),
                "activatedAt": summary.activatedAt.map(Timestamps.iso8601),
                "lockedUntil": summary.lockedUntil.map(Timestamps.iso8601),
                "locked": summary.lockedUntil.map { $0 > now } ?? false,
                // The expiry is recorded by the next command after it; until then say it is over.
                "pendingExpired": expiryRecorded || replacementExpiryRecorded || expired,
                "requestedAt": expiryRecorded || replacementExpiryRecorded ? summary.requestedAt.map(Timestamps.iso8601) : nil,
                "failedAttempts": summary.failedAttempts,
                "remainingAttempts": summary.remainingAttempts,
            ])
            return
        }
        // Stored text is printed with its control characters escaped: no command accepts them,
        // but a row edited with another tool could hold a NUL or a terminal escape.
        func shown(_ text: String?) -> String { text.map { TextField.escaped($0) } ?? "-" }
        // Quoted as history and audit quote it: a space at either end (an older journal's id) shows.
        var lines = ["user: \(TextField.quoted(summary.user))", "status: \(status.rawValue)"]
        if summary.status != .none {
            lines.append("issuer: \(shown(summary.issuer))  account: \(shown(summary.account))")
            lines.append("algorithm: \(shown(summary.algorithm))  digits: \(summary.digits.map(String.init) ?? "-")  period: \(summary.period.map(String.init) ?? "-") s")
        }
        // While a lock runs no new secret is issued: the advice to get one waits for its end.
        let afterLock = summary.lockedUntil.flatMap { $0 > now ? "once the lock ends, " : nil } ?? ""
        // Past its expiry, say it is over rather than "confirm before" a time that has passed.
        if summary.replacementPending, let expiry = summary.pendingExpiresAt {
            lines.append(expired
                ? "replacement expired at \(Timestamps.iso8601(expiry)); the active secret stays in use (\(afterLock)regenerate for a new one; an app that replaced its entry with the expired one gets it back by scanning the active QR code, which reveal shows again)"
                : "replacement pending until \(Timestamps.iso8601(expiry))")
            if replacementLive, let settings = summary.replacement {
                lines.append("replacement: issuer: \(shown(settings.issuer))  account: \(shown(settings.account))  algorithm: \(shown(settings.algorithm))  digits: \(settings.digits.map(String.init) ?? "-")  period: \(settings.period.map(String.init) ?? "-") s (confirm checks a code of this one)")
            }
        }
        if summary.status == .pending, let expiry = summary.pendingExpiresAt {
            lines.append(expired
                ? "the secret expired at \(Timestamps.iso8601(expiry)) before it was confirmed; \(afterLock)request again for a new QR code"
                : "confirm before \(Timestamps.iso8601(expiry))")
        }
        if expiryRecorded, let requested = summary.requestedAt {
            lines.append("the secret requested at \(Timestamps.iso8601(requested)) expired before it was confirmed; \(afterLock)request again for a new QR code")
        }
        if replacementExpiryRecorded, let requested = summary.requestedAt {
            lines.append("the replacement requested at \(Timestamps.iso8601(requested)) expired before it was confirmed; the active secret stays in use (\(afterLock)regenerate for a new one)")
        }
        if let until = summary.lockedUntil {
            // The unlock is recorded by the next command after the lock's end; until then say it is over.
            lines.append(until > now
                ? "confirmation locked until \(Timestamps.iso8601(until)) after too many wrong codes"
                : "confirmation was locked until \(Timestamps.iso8601(until)); the lock has ended")
        }
        if summary.failedAttempts > 0 {
            let left = summary.remainingAttempts.map { " (\($0) left before a lock)" } ?? ""
            lines.append("failed attempts: \(summary.failedAttempts)\(left)")
        }
        // Stored names edited in with another tool must not print lines of their own. (Appended
        // by hand: `joined(separator:)` looks up its generic witnesses at run time, once per process.)
        Terminal.line(lines.dropFirst().reduce(into: TextField.escaped(lines[0])) { text, line in text += "\n" + TextField.escaped(line) })
    }
}

extension UserCommandOptions {
    /// Handles `command` for this user. A repeated `--command-id` answers with the first
    /// outcome, recording nothing: the state returned beside it is then today's, not the one
    /// that outcome left.
    func handle(_ command: EnrollmentCommand, global: GlobalOptions) throws -> (CommandOutcome, AuthenticatorState) {
        let service = try global.service(create: false)
        let outcome = try service.handle(envelope(command))
        return (outcome, outcome.replayed ? try service.load(outcome.user) : outcome.state)
    }

    /// What a repeated `--command-id` says: that the first time did `first`, that nothing was
    /// done now, and where the user stands now (which later commands may have changed).
    func repeated(_ first: String, _ current: AuthenticatorState, at now: UnixTime) -> String {
        let status = current.status(at: now), live = current.livePending(at: now)
        let who = TextField.quoted(user)
        let standing = switch (status, live?.isReplacement == true) {
        case (.active, true): "\(who) is active, with a new secret from regenerate awaiting its code"
        case (.active, false): "\(who) is active"
        case (.pending, _): "\(who) has a secret awaiting its first code"
        case (.none, _): "\(who) has no authenticator"
        }
        return "Command id '\(TextField.escaped(commandId ?? ""))' was handled before (\(first)); nothing was done now. Now \(standing)."
    }
}
