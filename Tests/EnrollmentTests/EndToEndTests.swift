import Foundation
import Enrollment
import QRCode
import Testing
import TestSupport

/// The built `enroll` binary as a separate process, cross-checked with oathtool and zbarimg.
@Suite(.serialized)
struct EndToEndTests {
    @Test("request → code from oathtool → confirm → status active")
    func enrollEndToEnd() throws {
        let workspace = try Workspace()
        let (request, json) = try workspace.enrollJSON(["request", "alice@example.com", "--issuer", "Zürich Bank"])
        #expect(request.status == 0, "\(request.stderr)")
        #expect(json["status"] as? String == "pending")
        let uri = try #require(json["otpauthURI"] as? String)
        #expect(uri.hasPrefix("otpauth://totp/Z%C3%BCrich%20Bank:alice%40example.com?"))
        #expect(json["qrCodeUrl"] as? String == Data(uri.utf8).base64EncodedString())

        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: uri)))
        let (confirm, confirmJSON) = try workspace.enrollJSON(["confirm", "alice@example.com", code])
        #expect(confirm.status == 0, "\(confirm.stderr)")
        #expect(confirmJSON["accepted"] as? Bool == true)
        #expect(confirmJSON["status"] as? String == "active")
        #expect(confirmJSON["error"] == nil)
        // A refused confirmation has the `error` every refusal has (exit 1, the code and message).
        let (refused, refusedJSON) = try workspace.enrollJSON(["confirm", "alice@example.com", code == "000000" ? "111111" : "000000"])
        #expect(refused.status == 1, "\(refused.stdout)")
        #expect(refusedJSON["error"] as? String == "no_pending_secret" && refusedJSON["accepted"] as? Bool == false, "\(refused.stdout)")
        #expect((refusedJSON["message"] as? String)?.isEmpty == false)

        let (status, statusJSON) = try workspace.enrollJSON(["status", "alice@example.com"])
        #expect(status.status == 0)
        #expect(statusJSON["status"] as? String == "active")
        #expect(statusJSON["issuer"] as? String == "Zürich Bank")
        #expect(statusJSON["digits"] as? Int == 6)
        #expect(statusJSON["replacementPending"] as? Bool == false)
        #expect(!status.stdout.contains(secretParameter(of: uri) ?? "-"))
    }

    @Test("a request that creates the database or the key file says so on stderr, naming them; on existing files it says nothing")
    func creationIsNoted() throws {
        let workspace = try Workspace()
        let first = try workspace.enroll(["request", "alice", "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr == "enroll: note: created a new enrollment database \(workspace.database) and its master key file \(workspace.keyFile); back the key file up, apart from the database: no secret in it can be opened without it\n")
        let again = try workspace.enroll(["request", "bob", "--json"])
        #expect(again.status == 0 && again.stderr.isEmpty, "\(again.stderr)")
        // A mistyped --db: a new database beside the existing key file, and the note says to check the path.
        let typo = workspace.path("enrolment.sqlite")
        let mistyped = try workspace.enroll(["request", "carol", "--json", "--db", typo])
        #expect(mistyped.status == 0, "\(mistyped.stderr)")
        #expect(mistyped.stderr.hasPrefix("enroll: note: created a new enrollment database \(typo), its secrets sealed by the key file \(workspace.keyFile)"), "\(mistyped.stderr)")
        #expect(mistyped.stderr.contains("check --db or ENROLL_DB"), "\(mistyped.stderr)")
        #expect(mistyped.stderr.split(separator: "\n").count == 1, "\(mistyped.stderr)")
        // Bad input creates nothing, so there is nothing to note.
        let refused = try workspace.enroll(["request", "dave/", "--db", workspace.path("third.sqlite")])
        #expect(refused.status == 2 && !refused.stderr.contains("note"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("third.sqlite")))
    }

    @Test("--db :memory: (or file:…) names a file, as any other path does: what request records is in that file for the next command, not lost with an in-memory database")
    func memoryNameIsAFile() throws {
        let workspace = try Workspace()
        let enroll = try Processes.product("enroll")
        for name in [":memory:", "file:x.sqlite"] {
            let user = name == ":memory:" ? "alice" : "bob"
            let environment = ["ENROLL_KEY_FILE": workspace.keyFile]
            let request = try Processes.run(enroll, ["request", user, "--db", name, "--json"], environment: environment, directory: workspace.directory)
            #expect(request.status == 0 && request.stderr.contains("created a new enrollment database") && request.stderr.contains(name), "\(request.stderr)")
            let status = try Processes.run(enroll, ["status", user, "--db", name, "--json"], environment: environment, directory: workspace.directory)
            #expect(status.status == 0 && status.stdout.contains("pending"), "\(name): \(status.stdout)\(status.stderr)")
            #expect(try SQLite3.eventTypes(workspace.path(name)) == ["EnrollmentRequested"], "\(name)")
        }
    }

    @Test("two requests starting a new database at the same moment: both succeed, and only the process that made each file says it did (one note of the database, one of the key file)")
    func concurrentCreationNotedOnce() throws {
        let bash = try Processes.tool("bash", package: "bash")
        let enroll = try Processes.product("enroll")
        for round in 0..<6 {
            let workspace = try Workspace()
            let script = "\"$0\" request ann 2>ann.err >/dev/null & \"$0\" request bob 2>bob.err >/dev/null & wait -n; a=$?; wait -n; b=$?; exit $((a + b))"
            let result = try Processes.run(
                bash, ["-c", script, enroll], environment: ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile],
                directory: workspace.directory)
            #expect(result.status == 0, "round \(round): \(result.stderr)")
            let notes = try ["ann.err", "bob.err"].map { try String(contentsOfFile: workspace.path($0), encoding: .utf8) }.joined()
            func count(_ text: String) -> Int { notes.components(separatedBy: text).count - 1 }
            #expect(count("created a new enrollment database") == 1, "round \(round): \(notes)")
            #expect(count("and its master key file") + count("created the master key file") == 1, "round \(round): \(notes)")
            for user in ["ann", "bob"] { #expect(try workspace.enroll(["status", user]).status == 0, "round \(round): \(user)") }
        }
    }

    @Test("a refusal about a user names the user id it looked up, so that a mistyped id is seen (the API's message, about its caller, does not)")
    func refusalNamesTheUser() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice", "--json"]).status == 0)
        let text = try workspace.enroll(["confirm", "alcie", "123456"])
        #expect(text.status == 1)
        #expect(text.stderr.hasPrefix("enroll: error: no authenticator is enrolled for user alcie; request one first"), "\(text.stderr)")
        // The command it suggests acts on the same journal, copied as printed from anywhere; one
        // that opens no secret (history) is given no key file.
        let files = "--db \(TextField.shellPath(workspace.database)) --key-file \(TextField.shellPath(workspace.keyFile))"
        #expect(text.stderr.contains("request one first (`enroll request \(files) alcie`) (not_enrolled)"), "\(text.stderr)")
        for (arguments, advised) in [(["cancel", "alice"], "`enroll remove \(files) alice`"), (["regenerate", "alice"], "`enroll request \(files) alice`"), (["remove", "-x"], "`enroll history --db \(TextField.shellPath(workspace.database)) -- -x` shows what the journal holds for it")] {
            let refused = try workspace.enroll(arguments.count == 2 && arguments[1] == "-x" ? [arguments[0], "--", "-x"] : arguments)
            #expect(refused.status == 1 && refused.stderr.contains("(\(advised))"), "\(arguments): \(refused.stderr)")
        }
        let (json, object) = try workspace.enrollJSON(["regenerate", "alcie"])
        #expect(json.status == 1)
        #expect((object["message"] as? String)?.hasPrefix("no authenticator is enrolled for user alcie;") == true, "\(json.stdout)")
        // A user id that needs quoting is quoted as audit prints it.
        let spaced = try workspace.enroll(["confirm", "al cie", "123456"])
        #expect(spaced.stderr.contains("for user \"al cie\";") || spaced.stderr.contains("for user al cie;"), "\(spaced.stderr)")
    }

    @Test("confirm's usual slips get their remedy: user and code swapped, a code typed with its space unquoted; remove of a user with none says there is nothing to remove, not to request one; each exit as before, nothing recorded")
    func confirmSlips() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "lee"]).status == 0)
        let before = workspace.databaseBytes()
        let files = "--db \(TextField.shellPath(workspace.database)) --key-file \(TextField.shellPath(workspace.keyFile))"
        let swapped = try workspace.enroll(["confirm", "123456", "lee"])
        #expect(swapped.status == 2 && swapped.stderr.hasSuffix("; the user comes first, then the code: `enroll confirm \(files) lee 123456`?\n"), "\(swapped.stderr)")
        let named = try workspace.enroll(["confirm", "leo", "lee"])
        #expect(named.status == 2 && !named.stderr.contains("comes first"), "a user id that is no code is no swap: \(named.stderr)")
        // A user id of digits with a code one digit short is no swap; a code from standard input is never echoed.
        let short = try workspace.enroll(["confirm", "123456", "12345"])
        #expect(short.status == 2 && !short.stderr.contains("comes first"), "\(short.stderr)")
        let piped = try Processes.run("/bin/sh", ["-c", "echo 12a456 | '\(try Processes.product("enroll"))' confirm 123456 - --db '\(workspace.database)' --key-file '\(workspace.keyFile)'"])
        #expect(piped.status == 2 && !piped.stderr.contains("12a456"), "\(piped.stderr)")
        // An option after the code is no part of it.
        for (words, quoted) in [(["123", "456"], "\"123 456\""), (["123", "456", "78"], "\"123 456 78\""), (["123", "456", "--busy-timeout", "5"], "\"123 456\"")] {
            let spaced = try workspace.enroll(["confirm", "lee"] + words)
            #expect(spaced.status == 2 && spaced.stderr.contains("; a code typed with spaces goes in quotes: `enroll confirm lee \(quoted)`"), "\(spaced.stderr)")
        }
        let nobody = try workspace.enroll(["remove", "nobody"])
        #expect(nobody.status == 1 && nobody.stderr.hasPrefix("enroll: error: no authenticator is enrolled for user nobody, so there is nothing to remove; check the user id")
                && !nobody.stderr.contains("request"), "\(nobody.stderr)")
        #expect(workspace.databaseBytes() == before)
    }

    @Test("a request that replaces a first secret still awaiting its code says so (its QR code stops working), with --json in a member of its object; nothing when there was nothing live to replace")
    func requestReplacingPendingSaysSo() throws {
        let workspace = try Workspace()
        let first = try workspace.enroll(["request", "kim"], environment: ["ENROLL_NOW": "1764400000"])
        #expect(first.status == 0 && !first.stderr.contains("replaces"), "\(first.stderr)")
        let again = try workspace.enroll(["request", "kim"], environment: ["ENROLL_NOW": "1764400060"])
        #expect(again.status == 0)
        #expect(again.stderr.contains("enroll: note: this replaces kim's secret requested earlier (it was to expire at 2025-11-29T07:16:40Z): its QR code no longer works"), "\(again.stderr)")
        // With --json, stdout stays one object, which carries the fact; stderr stays empty.
        let (json, object) = try workspace.enrollJSON(["request", "kim"], environment: ["ENROLL_NOW": "1764400120"])
        #expect(json.status == 0 && json.stderr.isEmpty, "\(json.stderr)")
        #expect(object["replacedPendingExpiringAt"] as? String == "2025-11-29T07:17:40Z", "\(object)")
        // Once the earlier one expired, nothing live is replaced.
        let late = try workspace.enroll(["request", "kim"], environment: ["ENROLL_NOW": "1764409999"])
        #expect(late.status == 0 && !late.stderr.contains("replaces"), "\(late.stderr)")
        let (_, fresh) = try workspace.enrollJSON(["request", "lou"], environment: ["ENROLL_NOW": "1764409999"])
        #expect(fresh["replacedPendingExpiringAt"] == nil, "\(fresh)")
    }

    @Test("the terminal output of request shows a QR code and the otpauth URI")
    func terminalQR() throws {
        let workspace = try Workspace()
        let result = try workspace.enroll(["request", "bob"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("▀") || result.stdout.contains("▄"))
        #expect(result.stdout.contains("otpauth://totp/Enrollment:bob?secret="))
        // The next step, ready to copy: with the files in use (here not ./enrollment.*).
        #expect(result.stdout.contains("Scan it, then run `enroll confirm --db \(workspace.database) --key-file \(workspace.keyFile) bob CODE`"), "\(result.stdout)")
        let plain = try Processes.run(
            "/usr/bin/env", ["-u", "ENROLL_DB", "-u", "ENROLL_KEY_FILE", try Processes.product("enroll"), "request", "carol"], directory: workspace.directory)
        #expect(plain.stdout.contains("Scan it, then run `enroll confirm carol CODE`"), "\(plain.stdout)\(plain.stderr)")
    }

    @Test("the hint's confirm command, pasted into bash, confirms the user the request named, even a name not in composed form (NFC) that prints like another, of which a note warns")
    func hintForDecomposedName() throws {
        let workspace = try Workspace()
        let decomposed = "cafe\u{301}", composed = "caf\u{E9}"
        let requested = try workspace.enroll(["request", decomposed])
        #expect(requested.status == 0, "\(requested.stderr)")
        // A new id that looks like another is told so; the composed one, and the same id again, are not.
        #expect(requested.stderr.hasSuffix("\nenroll: note: the new user id \"cafe\\u0301\" is not in Unicode's composed form (NFC, what keyboards type): it is another user than café, though the two look alike; if that user was meant, type the id composed\n"), "\(requested.stderr)")
        try confirmByPastingTheHint(requested, naming: #"$'cafe\u0301'"#, user: decomposed, in: workspace)
        let (_, other) = try workspace.enrollJSON(["status", composed])
        #expect(other["status"] as? String != "active", "\(other)")
        #expect(try workspace.enroll(["request", decomposed]).stderr.contains("composed form") == false, "not new any more")
        #expect(try workspace.enroll(["request", composed]).stderr.isEmpty)
    }

    @Test("a name not in composed form with a character past U+FFFF is escaped as \\U and eight digits, which bash reads back as that character (\\u reads four at most), so the hint pasted into bash confirms that user")
    func hintForDecomposedNamePastTheBasicPlane() throws {
        let workspace = try Workspace()
        // U+1D15E MUSICAL SYMBOL HALF NOTE, which composing replaces with two characters.
        let user = "note\u{1D15E}"
        let requested = try workspace.enroll(["request", user])
        #expect(requested.status == 0 && requested.stderr.contains(#"the new user id "note\U0001d15e" is not in Unicode's composed form"#), "\(requested.stderr)")
        try confirmByPastingTheHint(requested, naming: #"$'note\U0001d15e'"#, user: user, in: workspace)
    }

    /// Runs in bash the confirm command a request's hint suggests (which names the user as
    /// `word`) with the code of the secret it issued, and checks that `user` is then active.
    private func confirmByPastingTheHint(_ requested: Processes.Result, naming word: String, user: String, in workspace: Workspace) throws {
        let hint = try #require(requested.stdout.components(separatedBy: "Scan it, then run `").dropFirst().first?.components(separatedBy: "`").first)
        #expect(hint.contains(" \(word) CODE"), "\(hint)")
        let uri = try #require(requested.stdout.split(whereSeparator: \.isWhitespace).first { $0.hasPrefix("otpauth://") })
        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: String(uri))))
        let command = try Processes.product("enroll") + hint.dropFirst("enroll".count).replacingOccurrences(of: " CODE", with: " " + code)
        let pasted = try Processes.run("/bin/bash", ["-c", command])
        #expect(pasted.status == 0, "\(command): \(pasted.stderr)")
        let (_, status) = try workspace.enrollJSON(["status", user])
        #expect(status["status"] as? String == "active", "\(status)")
    }

    @Test("suggested commands name the files as absolute paths: a relative --db and --key-file are taken from the current directory, so the hint works copied anywhere")
    func suggestionsNameAbsolutePaths() throws {
        let workspace = try Workspace()
        let enroll = try Processes.product("enroll")
        let requested = try Processes.run(
            "/usr/bin/env", ["-u", "ENROLL_DB", "-u", "ENROLL_KEY_FILE", enroll, "request", "alice", "--db", "data.sqlite", "--key-file", "./k.key"],
            directory: workspace.directory)
        #expect(requested.status == 0, "\(requested.stderr)")
        let directory = workspace.directory.resolvingSymlinksInPath().path
        #expect(requested.stdout.contains("Scan it, then run `enroll confirm --db \(directory)/data.sqlite --key-file \(directory)/k.key alice CODE`"), "\(requested.stdout)")
        let verify = try Processes.run("/usr/bin/env", ["-u", "ENROLL_DB", enroll, "verify", "--db", "data.sqlite"], directory: workspace.directory)
        #expect(verify.stdout.contains("`enroll verify --db \(directory)/data.sqlite --anchor POSITION:HASH` checks the journal against it"), "\(verify.stdout)")
    }

    @Test("at the latest clock ENROLL_NOW may name, a secret still gets its whole 10 minutes before the year 9999 ends, and oathtool's code activates it; a later clock is refused")
    func latestFixedClock() throws {
        let workspace = try Workspace()
        let latest: Int64 = 253_402_300_799 - 600
        let (result, json) = try workspace.enrollJSON(["request", "alice"], environment: ["ENROLL_NOW": "\(latest)"])
        #expect(result.status == 0 && json["expiresAt"] as? String == "9999-12-31T23:59:59Z", "\(json)")
        let uri = try #require(json["otpauthURI"] as? String)
        let secret = try #require(secretParameter(of: uri))
        // (The clock cannot be fixed any later: the code is typed in the same second.)
        let confirmed = try workspace.enroll(["confirm", "alice", try Oathtool.code(base32Secret: secret, at: latest)], environment: ["ENROLL_NOW": "\(latest)"])
        #expect(confirmed.status == 0, "\(confirmed.stderr)")
        let past = try workspace.enroll(["status", "alice"], environment: ["ENROLL_NOW": "\(latest + 1)"])
        #expect(past.status == 2 && past.stderr.contains("from 0 to \(latest)"), "\(past.stderr)")
    }

    @Test("on a terminal narrower than the QR code, a one-line warning says it cannot be scanned and what to use instead; a wide terminal or a pipe gets none")
    func terminalTooNarrow() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "bob"]).status == 0)
        // A real terminal of a chosen width: util-linux's `script` runs enroll on a pseudo-terminal.
        let script = try Processes.tool("script", package: "bsdutils")
        let enroll = try Processes.product("enroll")
        func reveal(columns: Int, _ options: String = "") throws -> Processes.Result {
            try Processes.run(
                script, ["-qec", "stty cols \(columns) && exec '\(enroll)' reveal bob \(options)", "/dev/null"],
                environment: ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile])
        }
        let narrow = try reveal(columns: 40)
        #expect(narrow.status == 0, "\(narrow.stdout)")
        let warnings = narrow.stdout.split(whereSeparator: \.isNewline).filter { $0.hasPrefix("enroll: warning:") }
        #expect(warnings.count == 1, "\(narrow.stdout)")
        #expect(warnings.first?.contains("the terminal has 40, so its lines wrap and it cannot be scanned") == true, "\(narrow.stdout)")
        // The command it suggests names the database and key file in use (here from ENROLL_DB and
        // ENROLL_KEY_FILE): copied as printed into a shell elsewhere, it writes the image.
        let line = String(try #require(warnings.first))
        let suggested = try #require(line.range(of: "`enroll reveal --format png --output FILE").map { String(line[$0.lowerBound...].dropFirst().prefix { $0 != "`" }) })
        #expect(suggested.hasSuffix(" bob") && suggested.contains(" --db ") && suggested.contains(" --key-file "), "\(suggested)")
        let image = workspace.path("copied.png")
        let copied = try Processes.run("/bin/sh", ["-c", "cd / && exec env -u ENROLL_DB -u ENROLL_KEY_FILE '\(enroll)' " + suggested.dropFirst("enroll ".count).replacing("FILE", with: "'\(image)'")])
        #expect(copied.status == 0, "\(suggested): \(copied.stderr)")
        #expect(FileManager.default.contents(atPath: image)?.starts(with: [0x89, 0x50, 0x4E, 0x47]) == true)
        #expect(narrow.stdout.contains("otpauth://totp/Enrollment:bob?secret="), "the code and the URI are still printed")
        let wide = try reveal(columns: 200)
        #expect(wide.status == 0 && !wide.stdout.contains("warning"), "\(wide.stdout)")
        // Nothing is drawn on the terminal with --json or --output: nothing to warn about.
        for options in ["--json", "--output '\(workspace.path("qr.txt"))'"] {
            let undrawn = try reveal(columns: 40, options)
            #expect(undrawn.status == 0 && !undrawn.stdout.contains("warning"), "\(options): \(undrawn.stdout)")
        }
        // A PNG's bytes are refused on a terminal; with --json, which prints only the JSON object, it is not.
        let binary = try reveal(columns: 80, "--format png")
        #expect(binary.status == 2 && binary.stdout.contains("a PNG is binary; pass --output FILE"), "\(binary.stdout)")
        let described = try reveal(columns: 80, "--format png --json")
        #expect(described.status == 0 && described.stdout.contains("\"otpauthURI\"") && !described.stdout.contains("PNG"), "\(described.stdout)")
        let piped = try workspace.enroll(["reveal", "bob"], environment: ["COLUMNS": "20"])
        #expect(piped.status == 0 && piped.stderr.isEmpty, "\(piped.stderr)")
    }

    @Test("--terminal-background light draws the dark modules as blocks (the rendering QRCodeTests scans on a light terminal); a bad value is exit 2 before anything is recorded")
    func lightTerminal() throws {
        let workspace = try Workspace()
        let light = try workspace.enroll(["request", "bob", "--terminal-background", "light"])
        #expect(light.status == 0, "\(light.stderr)")
        let uri = try #require(light.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth://") }.map(String.init))
        let code = try QRCode(encoding: uri)
        #expect(light.stdout.hasPrefix(code.terminalString(invert: false) + "\n" + uri + "\n"), "\(light.stdout)")
        #expect(light.stdout.split(separator: "\n")[0].allSatisfy { $0 == " " }, "the quiet zone is the terminal's own light background")
        let dark = try workspace.enroll(["reveal", "bob"])
        #expect(dark.stdout.hasPrefix(code.terminalString(invert: true) + "\n"), "\(dark.stdout)")
        #expect(dark.stdout.split(separator: "\n")[0].allSatisfy { $0 == "█" }, "the default is for dark terminals")
        let fromEnvironment = try workspace.enroll(["reveal", "bob"], environment: ["ENROLL_TERMINAL_BACKGROUND": "light"])
        #expect(fromEnvironment.stdout.hasPrefix(code.terminalString(invert: false) + "\n"), "\(fromEnvironment.stdout)")
        let before = try workspace.enroll(["history", "bob"]).stdout
        for (arguments, environment, source) in [(["reveal", "bob", "--terminal-background", "white"], [:], "--terminal-background"),
                                                 (["regenerate", "bob"], ["ENROLL_TERMINAL_BACKGROUND": "pale"], "ENROLL_TERMINAL_BACKGROUND"),
                                                 (["request", "carol", "--terminal-background", ""], [:], "--terminal-background")] {
            let refused = try workspace.enroll(arguments, environment: environment)
            #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains("\(source) must be dark or light, not '"), "\(refused.stderr)")
            #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        }
        #expect(try workspace.enroll(["history", "bob"]).stdout == before, "nothing recorded for a refused display option")
        #expect(try workspace.enroll(["status", "carol"]).stdout.contains("status: none"))
    }

    @Test("reveal --format png and svg write images that zbarimg decodes to exactly the URI")
    func revealImages() throws {
        let workspace = try Workspace()
        let (_, json) = try workspace.enrollJSON(["request", "carol", "--algorithm", "SHA256", "--digits", "8", "--issuer", "ACME Co"])
        let uri = try #require(json["otpauthURI"] as? String)
        let zbarimg = try Processes.tool("zbarimg", package: "zbar-tools")
        let png = workspace.path("qr.png")
        let reveal = try workspace.enroll(["reveal", "carol", "--format", "png", "--output", png])
        #expect(reveal.status == 0, "\(reveal.stderr)")
        #expect(try Processes.run(zbarimg, ["--quiet", "--raw", png]).stdout.trimmingCharacters(in: .newlines) == uri)

        let svg = workspace.path("qr.svg")
        #expect(try workspace.enroll(["reveal", "carol", "--format", "svg", "--output", svg]).status == 0)
        let rsvg = try Processes.tool("rsvg-convert", package: "librsvg2-bin")
        let rendered = workspace.path("svg.png")
        #expect(try Processes.run(rsvg, ["-o", rendered, svg]).status == 0)
        #expect(try Processes.run(zbarimg, ["--quiet", "--raw", rendered]).stdout.trimmingCharacters(in: .newlines) == uri)

        let plain = try workspace.enroll(["reveal", "carol", "--format", "uri"])
        #expect(plain.stdout.trimmingCharacters(in: .newlines) == uri)
    }

    @Test("names whose otpauth URI just fits a QR code (2 331 bytes) give a QR code zbarimg reads back; one byte more is refused before a secret is issued")
    func namesAtTheQRCodeLimit() throws {
        let workspace = try Workspace()
        // 88 emoji in the issuer take 12 bytes each, twice (label and parameter): 98 + 24 × 88 + 121 = 2 331.
        let issuer = String(repeating: "\u{1F600}", count: 88)
        let (_, json) = try workspace.enrollJSON(["request", "carol", "--issuer", issuer, "--account", String(repeating: "a", count: 121)])
        let uri = try #require(json["otpauthURI"] as? String)
        #expect(uri.utf8.count == 2_331)
        #expect(throws: QRCodeError.self, "the engine's limit is the QR code's own") { try QRCode(encoding: uri + "a") }
        let png = workspace.path("qr.png")
        let reveal = try workspace.enroll(["reveal", "carol", "--format", "png", "--output", png])
        #expect(reveal.status == 0, "\(reveal.stderr)")
        let zbarimg = try Processes.tool("zbarimg", package: "zbar-tools")
        #expect(try Processes.run(zbarimg, ["--quiet", "--raw", png]).stdout.trimmingCharacters(in: .newlines) == uri)

        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: uri)))
        #expect(try workspace.enroll(["confirm", "carol", code]).status == 0)

        let journal = try SQLite3.query(workspace.database, "SELECT count(*) FROM events")
        // A regenerate keeps the active secret's issuer: a longer account alone is too much.
        for command in [["request", "dave", "--issuer", issuer], ["regenerate", "carol"]] {
            let tooLong = try workspace.enroll(command + ["--account", String(repeating: "a", count: 122), "--json"])
            #expect(tooLong.status == 2, "\(tooLong.stderr)")
            #expect(tooLong.stdout.contains(#""error":"names_too_long""#) && tooLong.stdout.contains("2332 bytes, more than a QR code holds (2331)"), "\(tooLong.stdout)")
        }
        #expect(try SQLite3.query(workspace.database, "SELECT count(*) FROM events") == journal, "nothing recorded")
        #expect(try workspace.enroll(["status", "dave"]).stdout.contains("status: none"))
    }

    @Test("regenerate: the old secret stays active until a code from the new one is confirmed")
    func regenerateEndToEnd() throws {
        let workspace = try Workspace()
        let (_, first) = try workspace.enrollJSON(["request", "dave"])
        let oldSecret = try secret(first)
        let now = Int64(Date().timeIntervalSince1970)
        #expect(try workspace.enroll(["confirm", "dave", try Oathtool.code(base32Secret: oldSecret, at: now)], environment: ["ENROLL_NOW": "\(now)"]).status == 0)

        let (regenerate, second) = try workspace.enrollJSON(["regenerate", "dave"], environment: ["ENROLL_NOW": "\(now + 60)"])
        #expect(regenerate.status == 0)
        let newSecret = try secret(second)
        #expect(newSecret != oldSecret)
        let (_, status) = try workspace.enrollJSON(["status", "dave"])
        #expect(status["status"] as? String == "active")
        #expect(status["replacementPending"] as? Bool == true)

        // Reveal now shows the replacement (what confirm would check).
        let reveal = try workspace.enroll(["reveal", "dave", "--format", "uri"], environment: ["ENROLL_NOW": "\(now + 70)"])
        #expect(secretParameter(of: reveal.stdout.trimmingCharacters(in: .newlines)) == newSecret)

        // A code from the old secret does not confirm the replacement.
        let oldCode = try Oathtool.code(base32Secret: oldSecret, at: now + 90)
        let newCode = try Oathtool.code(base32Secret: newSecret, at: now + 90)
        if oldCode != newCode {
            let (wrong, wrongJSON) = try workspace.enrollJSON(["confirm", "dave", oldCode], environment: ["ENROLL_NOW": "\(now + 90)"])
            #expect(wrong.status == 1)
            #expect(wrongJSON["reason"] as? String == "invalid_code")
            // The app lists both entries under one name: the message says which one to read.
            let hint = "if the app shows two entries for this account, type the code of the one scanned last"
            #expect((wrongJSON["message"] as? String)?.contains(hint) == true, "\(wrongJSON)")
            let text = try workspace.enroll(["confirm", "dave", oldCode], environment: ["ENROLL_NOW": "\(now + 90)"])
            #expect(text.status == 1 && text.stderr.contains(hint) && text.stderr.contains("3 attempts left"), "\(text.stderr)")
        }
        let (right, rightJSON) = try workspace.enrollJSON(["confirm", "dave", newCode], environment: ["ENROLL_NOW": "\(now + 90)"])
        #expect(right.status == 0, "\(right.stderr)")
        #expect(rightJSON["replacementPending"] as? Bool == false)
        let (_, after) = try workspace.enrollJSON(["status", "dave"])
        #expect(after["replacementPending"] as? Bool == false)
        let revealAfter = try workspace.enroll(["reveal", "dave", "--format", "uri"], environment: ["ENROLL_NOW": "\(now + 100)"])
        #expect(secretParameter(of: revealAfter.stdout.trimmingCharacters(in: .newlines)) == newSecret)
    }

    @Test("regenerate can change the settings (SHA256, 8 digits); what is not given is kept; the new code from oathtool activates it; bad settings are exit 2 with nothing recorded")
    func regenerateWithNewSettings() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_400_000
        func at(_ offset: Int64) -> [String: String] { ["ENROLL_NOW": "\(t0 + offset)"] }
        let first = try workspace.enroll(["request", "nina", "--issuer", "ACME"], environment: at(0))
        let uri = try #require(first.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth://") }.map(String.init))
        let secret = try #require(secretParameter(of: uri))
        #expect(try workspace.enroll(["confirm", "nina", try Oathtool.code(base32Secret: secret, at: t0 + 10)], environment: at(10)).status == 0)
        let before = try SQLite3.eventTypes(workspace.database)
        for bad in [["--digits", "9"], ["--algorithm", "MD5"], ["--period", "0"], ["--issuer", "a:b"]] {
            let result = try workspace.enroll(["regenerate", "nina"] + bad, environment: at(20))
            #expect(result.status == 2 && result.stderr.split(separator: "\n").count == 1, "\(bad): \(result.stderr)")
        }
        #expect(try SQLite3.eventTypes(workspace.database) == before, "nothing recorded for bad settings")
        let regenerated = try workspace.enroll(["regenerate", "nina", "--algorithm", "SHA256", "--digits", "8"], environment: at(30))
        #expect(regenerated.status == 0, "\(regenerated.stderr)")
        let newURI = try #require(regenerated.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth://") }.map(String.init))
        #expect(newURI.contains("algorithm=SHA256") && newURI.contains("digits=8") && newURI.contains("issuer=ACME") && newURI.contains("period=30"), "\(newURI)")
        let newSecret = try #require(secretParameter(of: newURI))
        let code = try Oathtool.code(base32Secret: newSecret, at: t0 + 40, algorithm: "SHA256", digits: 8)
        #expect(try workspace.enroll(["confirm", "nina", code], environment: at(40)).status == 0)
        let status = try workspace.enroll(["status", "nina"], environment: at(41)).stdout
        #expect(status.contains("algorithm: SHA256  digits: 8  period: 30 s") && status.contains("issuer: ACME"), "\(status)")

        // A wrong code for a replacement some apps may show wrongly: the regenerate it suggests
        // gives the replacement's issuer and account (left out, the active secret's would be
        // kept), and run as printed it issues them with the defaults every app follows, six
        // digits included.
        _ = try workspace.enroll(["regenerate", "nina", "--algorithm", "SHA512", "--issuer", "NewCo", "--account", "ops nina", "--digits", "7"], environment: at(50))
        let wrong = try workspace.enroll(["confirm", "nina", "0000000"], environment: at(50))
        let advised = try #require(wrong.stderr.split(separator: "`").dropFirst(3).first.map(String.init), "\(wrong.stderr)")
        #expect(advised.hasPrefix("enroll regenerate --algorithm SHA1 --period 30 --digits 6 --issuer NewCo --account 'ops nina' --db "), "\(wrong.stderr)")
        let cancelled = try workspace.enroll(["cancel", "nina"], environment: at(51))
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        let sh = try Processes.tool("sh", package: "dash")
        let again = try Processes.run(sh, ["-c", advised.replacingOccurrences(of: "enroll ", with: "\"$0\" ", options: .anchored), try Processes.product("enroll")], environment: at(52))
        #expect(again.status == 0, "\(advised): \(again.stderr)")
        let replacement = try workspace.enroll(["status", "nina"], environment: at(53)).stdout
        #expect(replacement.contains("NewCo") && replacement.contains("ops nina") && replacement.contains("digits: 6") && replacement.contains("algorithm: SHA1"), "\(replacement)")
    }

    @Test("regenerate with a changed setting for a user whose id holds ':' (the default account, percent-encoded in the label) keeps that account rather than refusing it as if typed")
    func regenerateKeepsAnAccountOnlyAUserIdCanHave() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_400_000
        func at(_ offset: Int64) -> [String: String] { ["ENROLL_NOW": "\(t0 + offset)"] }
        let first = try workspace.enroll(["request", "c:d"], environment: at(0))
        let uri = try #require(first.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth://") }.map(String.init))
        #expect(uri.hasPrefix("otpauth://totp/Enrollment:c%3Ad?"), "\(uri)")
        #expect(try workspace.enroll(["confirm", "c:d", try Oathtool.code(base32Secret: try #require(secretParameter(of: uri)), at: t0 + 10)], environment: at(10)).status == 0)
        let regenerated = try workspace.enroll(["regenerate", "c:d", "--digits", "8"], environment: at(20))
        #expect(regenerated.status == 0, "\(regenerated.stderr)")
        let newURI = try #require(regenerated.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth://") }.map(String.init))
        #expect(newURI.hasPrefix("otpauth://totp/Enrollment:c%3Ad?") && newURI.contains("digits=8"), "\(newURI)")

        // A wrong code for that 8-digit replacement suggests a regenerate with the defaults that
        // leaves the account out (it is the user id, which `--account` would refuse for its ':'),
        // and, run as printed after the cancel, it works.
        let wrong = try workspace.enroll(["confirm", "c:d", "00000000"], environment: at(30))
        let advised = try #require(wrong.stderr.split(separator: "`").dropFirst(3).first.map(String.init), "\(wrong.stderr)")
        #expect(advised.hasPrefix("enroll regenerate --algorithm SHA1 --period 30 --digits 6 --db ") && !advised.contains("--account"), "\(wrong.stderr)")
        #expect(try workspace.enroll(["cancel", "c:d"], environment: at(31)).status == 0)
        let sh = try Processes.tool("sh", package: "dash")
        let again = try Processes.run(sh, ["-c", advised.replacingOccurrences(of: "enroll ", with: "\"$0\" ", options: .anchored), try Processes.product("enroll")], environment: at(32))
        #expect(again.status == 0, "\(advised): \(again.stderr)")
        let status = try workspace.enroll(["status", "c:d"], environment: at(33)).stdout
        #expect(status.contains("replacement: issuer: Enrollment  account: c:d  algorithm: SHA1  digits: 6  period: 30 s"), "\(status)")
    }

    @Test("a new secret is as long as its algorithm's HMAC output (RFC 2104 §3): 20, 32 or 64 bytes; oathtool's code activates each; a regenerate without settings keeps the algorithm and its length")
    func secretLengthFollowsTheAlgorithm() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_400_000
        // Base32 without padding: 20 bytes are 32 characters, 32 bytes 52, 64 bytes 103.
        for (algorithm, characters) in [("SHA1", 32), ("SHA256", 52), ("SHA512", 103)] {
            let user = "len-" + algorithm.lowercased()
            let (_, json) = try workspace.enrollJSON(["request", user, "--algorithm", algorithm], environment: ["ENROLL_NOW": "\(t0)"])
            let uri = try #require(json["otpauthURI"] as? String)
            let secret = try #require(secretParameter(of: uri))
            #expect(secret.count == characters, "\(algorithm): \(secret)")
            let code = try Oathtool.code(base32Secret: secret, at: t0 + 5, algorithm: algorithm)
            #expect(try workspace.enroll(["confirm", user, code], environment: ["ENROLL_NOW": "\(t0 + 5)"]).status == 0, "\(algorithm)")
            let (_, regenerated) = try workspace.enrollJSON(["regenerate", user], environment: ["ENROLL_NOW": "\(t0 + 40)"])
            let newURI = try #require(regenerated["otpauthURI"] as? String)
            let replacement = try #require(secretParameter(of: newURI))
            #expect(replacement.count == characters && replacement != secret, "\(algorithm): \(replacement)")
        }
    }

    @Test("status names a pending replacement's own issuer, account and settings (the digits the next confirm needs), in text and JSON, as the API's status gives its digits")
    func statusShowsTheReplacement() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_400_000
        let (_, first) = try workspace.enrollJSON(["request", "rita"], environment: ["ENROLL_NOW": "\(t0)"])
        let secret = try #require(secretParameter(of: first["otpauthURI"] as? String ?? ""))
        #expect(try workspace.enroll(["confirm", "rita", try Oathtool.code(base32Secret: secret, at: t0)], environment: ["ENROLL_NOW": "\(t0)"]).status == 0)
        let (_, regenerated) = try workspace.enrollJSON(
            ["regenerate", "rita", "--issuer", "NewCo", "--account", "rita@new", "--digits", "8", "--algorithm", "SHA256"], environment: ["ENROLL_NOW": "\(t0 + 30)"])
        let replacement = try #require(secretParameter(of: regenerated["otpauthURI"] as? String ?? ""))
        let later = ["ENROLL_NOW": "\(t0 + 60)"]
        let (_, status) = try workspace.enrollJSON(["status", "rita"], environment: later)
        #expect(status["digits"] as? Int == 6 && status["replacementPending"] as? Bool == true, "\(status)")
        let settings = try #require(status["replacement"] as? [String: Any], "\(status)")
        #expect(settings["issuer"] as? String == "NewCo" && settings["account"] as? String == "rita@new", "\(settings)")
        #expect(settings["digits"] as? Int == 8 && settings["algorithm"] as? String == "SHA256" && settings["period"] as? Int == 30, "\(settings)")
        let text = try workspace.enroll(["status", "rita"], environment: later).stdout
        #expect(text.contains("replacement: issuer: NewCo  account: rita@new  algorithm: SHA256  digits: 8  period: 30 s"), "\(text)")
        // The digits it names are the ones confirm takes: oathtool's 8-digit SHA-256 code activates it.
        let code = try Oathtool.code(base32Secret: replacement, at: t0 + 60, algorithm: "SHA256", digits: 8)
        #expect(try workspace.enroll(["confirm", "rita", code], environment: later).status == 0)
        let (_, after) = try workspace.enrollJSON(["status", "rita"], environment: later)
        #expect(after["digits"] as? Int == 8 && after["issuer"] as? String == "NewCo" && after["replacement"] == nil, "\(after)")
    }

    @Test("an abandoned regenerate never locks anyone out: after expiry the old secret is still the active one, and status says the replacement expired (also for a regenerate in the activation's own second; not for a secret confirmed in its request's second)", arguments: [30, 0] as [Int64])
    func abandonedRegenerate(regenerateAfter: Int64) throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let env = ["ENROLL_NOW": "\(now)"]
        let (_, first) = try workspace.enrollJSON(["request", "erin"], environment: env)
        let secret = try secret(first)
        #expect(try workspace.enroll(["confirm", "erin", try Oathtool.code(base32Secret: secret, at: now)], environment: env).status == 0)
        #expect(try workspace.enroll(["regenerate", "erin"], environment: ["ENROLL_NOW": "\(now + regenerateAfter)"]).status == 0)
        let later = ["ENROLL_NOW": "\(now + regenerateAfter + 601)"]
        // Before anything records the expiry, status says it from the time: expired, no longer pending.
        let (_, unrecorded) = try workspace.enrollJSON(["status", "erin"], environment: later)
        #expect(unrecorded["pendingExpired"] as? Bool == true && unrecorded["replacementPending"] as? Bool == false && unrecorded["replacement"] == nil, "\(unrecorded)")
        // Someone confirmed in their request's own second, with no regenerate: nothing expired.
        let (_, quick) = try workspace.enrollJSON(["request", "fred"], environment: env)
        #expect(try workspace.enroll(["confirm", "fred", try Oathtool.code(base32Secret: try #require(secretParameter(of: quick["otpauthURI"] as? String ?? "")), at: now)], environment: env).status == 0)
        let (_, fred) = try workspace.enrollJSON(["status", "fred"], environment: later)
        #expect(fred["status"] as? String == "active" && fred["pendingExpired"] as? Bool == false && fred["requestedAt"] as? String == nil, "\(fred)")
        #expect(!(try workspace.enroll(["status", "fred"], environment: later).stdout.contains("expired")))
        let reveal = try workspace.enroll(["reveal", "erin", "--format", "uri"], environment: later)
        #expect(reveal.status == 0)
        #expect(secretParameter(of: reveal.stdout.trimmingCharacters(in: .newlines)) == secret)
        let (_, status) = try workspace.enrollJSON(["status", "erin"], environment: later)
        #expect(status["status"] as? String == "active")
        #expect(status["replacementPending"] as? Bool == false)
        // The reveal recorded the replacement's expiry; status still says what became of it.
        #expect(status["pendingExpired"] as? Bool == true && status["requestedAt"] as? String != nil, "\(status)")
        let text = try workspace.enroll(["status", "erin"], environment: later).stdout
        #expect(text.contains("the replacement requested at") && text.contains("expired before it was confirmed; the active secret stays in use"), "\(text)")
    }

    @Test("cancel after regenerate: exit 0, the old secret stays active and its code still signs the user in, the new one's code confirms nothing; cancel again is exit 1 nothing_to_cancel with nothing recorded, suggesting remove only for a first secret; history shows the cancel")
    func cancelRegenerate() throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(now + offset)"] }
        let (_, first) = try workspace.enrollJSON(["request", "gina"], environment: at(0))
        let oldSecret = try secret(first)
        #expect(try workspace.enroll(["confirm", "gina", try Oathtool.code(base32Secret: oldSecret, at: now)], environment: at(0)).status == 0)
        let (_, regenerated) = try workspace.enrollJSON(["regenerate", "gina"], environment: at(30))
        let newURI = try #require(regenerated["otpauthURI"] as? String)
        let cancelled = try workspace.enroll(["cancel", "gina"], environment: at(60))
        #expect(cancelled.status == 0, "\(cancelled.stderr)")
        #expect(cancelled.stdout.contains("the authenticator already active stays in use"), "\(cancelled.stdout)")
        // An app that replaced its entry with the new QR code's gets it back from the eye icon.
        #expect(cancelled.stdout.contains("if the app replaced its entry for the active secret with it, scan the active QR code again: `enroll reveal --db ") && cancelled.stdout.contains(" gina`."), "\(cancelled.stdout)")
        let (_, status) = try workspace.enrollJSON(["status", "gina"], environment: at(60))
        #expect(status["status"] as? String == "active" && status["replacementPending"] as? Bool == false, "\(status)")
        #expect(status["pendingExpired"] as? Bool == false, "a cancel is not an expiry: \(status)")
        let statusText = try workspace.enroll(["status", "gina"], environment: at(60)).stdout
        #expect(!statusText.contains("expired"), "\(statusText)")
        let reveal = try workspace.enroll(["reveal", "gina", "--format", "uri"], environment: at(61))
        #expect(secretParameter(of: reveal.stdout.trimmingCharacters(in: .newlines)) == oldSecret, "the eye shows the secret still in use")
        let newSecret = try #require(secretParameter(of: newURI))
        let newCode = try Oathtool.code(base32Secret: newSecret, at: now + 90)
        let refused = try workspace.enroll(["confirm", "gina", newCode], environment: at(90))
        #expect(refused.status == 1 && refused.stderr.contains("no_pending_secret"), "\(refused.stderr)")
        let before = try FixtureTests.eventCount(workspace.database)
        let again = try workspace.enroll(["cancel", "gina"], environment: at(120))
        #expect(again.status == 1, "\(again.stderr)")
        #expect(again.stderr.split(separator: "\n").count == 1 && again.stderr.contains("nothing was cancelled") && again.stderr.contains("(nothing_to_cancel)"), "\(again.stderr)")
        // Beside an active authenticator the message suggests no command: `remove` would delete it.
        #expect(!again.stderr.contains("`enroll remove"), "\(again.stderr)")
        #expect(try FixtureTests.eventCount(workspace.database) == before, "a refused cancel records nothing")
        // Beside a first secret awaiting its code, removing is what discards it.
        _ = try workspace.enroll(["request", "gus"], environment: at(120))
        let pendingFirst = try workspace.enroll(["cancel", "gus"], environment: at(121))
        #expect(pendingFirst.status == 1 && pendingFirst.stderr.contains("(nothing_to_cancel)") && pendingFirst.stderr.contains(" (`enroll remove --db "), "\(pendingFirst.stderr)")
        let history = try workspace.enroll(["history", "gina"], environment: at(120)).stdout
        #expect(history.contains("ReplacementCancelled") && history.contains("regenerate cancelled"), "\(history)")
    }

    @Test("a confirmed replacement says to delete the app's older entry; a lock that outlasts the QR code says to request or regenerate again once it ends, not merely to try again")
    func confirmMessagesThatSayWhatToDo() throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(now + offset)"] }
        let (_, first) = try workspace.enrollJSON(["request", "hal"], environment: at(0))
        let activated = try workspace.enroll(["confirm", "hal", try Oathtool.code(base32Secret: try secret(first), at: now)], environment: at(0))
        #expect(activated.stdout.contains("is now active for hal") && !activated.stdout.contains("older entry"), "\(activated.stdout)")
        let (_, regenerated) = try workspace.enrollJSON(["regenerate", "hal"], environment: at(30))
        let newURI = try #require(regenerated["otpauthURI"] as? String)
        let newSecret = try #require(secretParameter(of: newURI))
        let replaced = try workspace.enroll(["confirm", "hal", try Oathtool.code(base32Secret: newSecret, at: now + 60)], environment: at(60))
        #expect(replaced.status == 0 && replaced.stdout.contains("Delete the older entry for this account"), "\(replaced.stdout)")

        // Two wrong codes lock for 15 minutes a secret that expires in 10.
        _ = try workspace.enroll(["request", "ivy"], environment: at(0))
        _ = try workspace.enroll(["confirm", "ivy", "000000", "--max-failed-attempts", "2"], environment: at(10))
        let locked = try workspace.enroll(["confirm", "ivy", "000001", "--max-failed-attempts", "2"], environment: at(20))
        #expect(locked.status == 1)
        #expect(locked.stderr.contains("the QR code expires before then") && locked.stderr.contains("request again for a new QR code") && locked.stderr.contains("(locked)"), "\(locked.stderr)")

        // A replacement locked the same way, then expired while the lock runs: the advice stays
        // to regenerate after the lock (waiting would only get replacement_expired).
        _ = try workspace.enroll(["regenerate", "hal"], environment: at(100))
        _ = try workspace.enroll(["confirm", "hal", "000000", "--max-failed-attempts", "2"], environment: at(110))
        let lockedReplacement = try workspace.enroll(["confirm", "hal", "000001", "--max-failed-attempts", "2"], environment: at(120))
        #expect(lockedReplacement.stderr.contains("the QR code expires before then") && lockedReplacement.stderr.contains("regenerate again"), "\(lockedReplacement.stderr)")
        let expiredMeanwhile = try workspace.enroll(["confirm", "hal", "000002"], environment: at(800))
        #expect(expiredMeanwhile.status == 1 && expiredMeanwhile.stderr.contains("and the new QR code from regenerate has expired; once the lock ends, regenerate again for a new QR code"), "\(expiredMeanwhile.stderr)")
        #expect(!expiredMeanwhile.stderr.contains("try again after that time"), "\(expiredMeanwhile.stderr)")
        // A refusal that advises a new QR code, made while the lock runs (when request and
        // regenerate are refused), says to act once the lock ends, and when.
        let lockEnd = { (user: String) throws -> String in
            let status = try JSONSerialization.jsonObject(with: Data(try workspace.enroll(["status", user, "--json"], environment: at(800)).stdout.utf8)) as? [String: Any]
            return try #require(status?["lockedUntil"] as? String)
        }
        let ivyLock = try lockEnd("ivy"), halLock = try lockEnd("hal")
        for (arguments, code, lock) in [
            (["confirm", "ivy", "000002"], "enrollment_expired", ivyLock), (["reveal", "ivy"], "enrollment_expired", ivyLock),
            (["regenerate", "ivy"], "enrollment_expired", ivyLock), (["cancel", "hal"], "replacement_expired", halLock),
        ] {
            let refused = try workspace.enroll(arguments, environment: at(800))
            #expect(refused.status == 1 && refused.stderr.contains("(\(code))"), "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains("once the lock on confirming ends at \(lock) (after too many wrong codes), \(code == "enrollment_expired" ? "request" : "regenerate") again"), "\(arguments): \(refused.stderr)")
        }
        let status = try workspace.enroll(["status", "ivy"], environment: at(800)).stdout
        #expect(status.contains("before it was confirmed; once the lock ends, request again for a new QR code"), "\(status)")
        // After it, the plain advice.
        let later = try workspace.enroll(["cancel", "hal"], environment: at(2_000))
        #expect(later.stderr.contains("(replacement_expired)") && !later.stderr.contains("once the lock"), "\(later.stderr)")
        // The commands that show the active QR code and make a new one, as typed here (the
        // library's words name none: the API's clients have the eye icon).
        #expect(later.stderr.contains("show the active QR code again and scan it") && later.stderr.contains(" (`enroll reveal --db ") && later.stderr.contains(" hal` shows the active QR code again; `enroll regenerate --db "), "\(later.stderr)")

        // A wrong code for a secret asking for what some apps ignore says so; for the defaults, not.
        _ = try workspace.enroll(["request", "kim", "--algorithm", "SHA256", "--period", "60"], environment: at(2_000))
        let unusual = try workspace.enroll(["confirm", "kim", "000000"], environment: at(2_000))
        #expect(unusual.status == 1 && unusual.stderr.contains("(invalid_code)"), "\(unusual.stderr)")
        #expect(unusual.stderr.contains("this secret asks for SHA256 codes and a 60-second step, which some apps ignore, showing codes that never match: if yours keeps failing, request again: `enroll request --algorithm SHA1 --period 30 --digits 6 --db "), "\(unusual.stderr)")
        #expect(unusual.stderr.contains(" kim` (invalid_code)"), "\(unusual.stderr)")
        // The issuer and account the secret was given are given again; its digits are among
        // what some apps ignore, so the command asks for the usual six.
        _ = try workspace.enroll(["request", "kay", "--algorithm", "SHA512", "--issuer", "ACME Corp", "--digits", "8"], environment: at(2_000))
        let kept = try workspace.enroll(["confirm", "kay", "00000000"], environment: at(2_000))
        #expect(kept.stderr.contains("this secret asks for 8-digit SHA512 codes, which some apps ignore"), "\(kept.stderr)")
        #expect(kept.stderr.contains("request again: `enroll request --algorithm SHA1 --period 30 --digits 6 --issuer 'ACME Corp' --db "), "\(kept.stderr)")
        // Six digits for an 8-digit secret, as an app that ignores the length shows: the same advice.
        _ = try workspace.enroll(["request", "dee", "--digits", "8"], environment: at(2_000))
        let short = try workspace.enroll(["confirm", "dee", "123456"], environment: at(2_000))
        #expect(short.stderr.contains("type the 8 digits the app shows; this secret asks for 8-digit codes, which some apps ignore"), "\(short.stderr)")
        #expect(short.stderr.contains("request again: `enroll request --algorithm SHA1 --period 30 --digits 6 --db ") && short.stderr.contains("(malformed_code)"), "\(short.stderr)")
        _ = try workspace.enroll(["request", "lee"], environment: at(2_000))
        let plain = try workspace.enroll(["confirm", "lee", "000000"], environment: at(2_000))
        #expect(plain.stderr.contains("(invalid_code)") && !plain.stderr.contains("some apps ignore"), "\(plain.stderr)")
    }

    @Test("a refusal replayed for its --command-id during a lock that began since advises as of now, after the lock; regenerate during a lock does not promise that the first secret can still be confirmed then")
    func replayedRefusalDuringLock() throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(now + offset)"] }
        _ = try workspace.enroll(["request", "nia"], environment: at(0))
        let first = try workspace.enroll(["regenerate", "nia", "--command-id", "R1"], environment: at(10))
        #expect(first.status == 1 && first.stderr.contains("(nothing_to_replace)") && !first.stderr.contains("once the lock"), "\(first.stderr)")
        let locked = try workspace.enroll(["confirm", "nia", "000000", "--max-failed-attempts", "1"], environment: at(20))
        #expect(locked.status == 1 && locked.stderr.contains("(locked)"), "\(locked.stderr)")
        let replayed = try workspace.enroll(["regenerate", "nia", "--command-id", "R1"], environment: at(30))
        #expect(replayed.status == 1 && replayed.stderr.contains("(nothing_to_replace)"), "\(replayed.stderr)")
        #expect(replayed.stderr.contains("once the lock on confirming ends at") && replayed.stderr.contains("if its QR code has not expired by then, else request again"), "\(replayed.stderr)")
        // Decided now, the QR code's expiry is known: it comes before the lock's end, so only a new one helps.
        let decided = try workspace.enroll(["regenerate", "nia"], environment: at(40))
        #expect(decided.stderr.contains("whose QR code expires (at ") && decided.stderr.contains("before confirming is unlocked; once the lock on confirming ends at"), "\(decided.stderr)")
        #expect(decided.stderr.contains("request again for a new QR code") && !decided.stderr.contains("confirm it with a code"), "\(decided.stderr)")
    }

    @Test("a user an older release enrolled under an id no new user may have ((bob), a private-use character) requests again after a removal; a new such id is refused (exit 2, nothing written, no database made)")
    func recordedIdRequestsAgain() throws {
        let workspace = try Workspace()
        let refusedFirst = try workspace.enroll(["request", "(carl)"])
        #expect(refusedFirst.status == 2 && !FileManager.default.fileExists(atPath: workspace.database), "\(refusedFirst.stderr)")
        for (old, recorded) in [("alice", "(bob)"), ("anna", "\u{E000}nna")] {
            #expect(try workspace.enroll(["request", old]).status == 0)
            #expect(try workspace.enroll(["remove", old]).status == 0)
            // As an older release would have recorded it (the rows renamed with an independent tool).
            for table in ["events", "commands"] { _ = try SQLite3.query(workspace.database, "UPDATE \(table) SET stream_id = '\(recorded)' WHERE stream_id = '\(old)'") }
            _ = try SQLite3.query(workspace.database, "UPDATE authenticators SET user_id = '\(recorded)' WHERE user_id = '\(old)'")
            let again = try workspace.enroll(["request", recorded])
            #expect(again.status == 0, "\(recorded): \(again.stderr)")
        }
        let before = try FixtureTests.eventCount(workspace.database)
        for id in ["(carl)", "\u{E000}lf"] {
            #expect(try workspace.enroll(["request", id]).status == 2, "\(id)")
        }
        #expect(try FixtureTests.eventCount(workspace.database) == before)
    }

    @Test("a repeated --command-id of confirm, cancel or remove says it was handled before and nothing was done now, with where the user stands now (text and JSON), never the first outcome passed off as today's")
    func repeatedCommandSaysSo() throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(now + offset)"] }
        _ = try workspace.enroll(["request", "lee"], environment: at(0))
        #expect(try workspace.enroll(["remove", "lee", "--command-id", "RM1"], environment: at(1)).stdout.hasPrefix("Removed"))
        _ = try workspace.enroll(["request", "lee"], environment: at(2))
        let removed = try workspace.enroll(["remove", "lee", "--command-id", "RM1"], environment: at(3))
        #expect(removed.status == 0 && removed.stdout == "Command id 'RM1' was handled before (it removed the authenticator then); nothing was done now. Now lee has a secret awaiting its first code.\n", "\(removed.stdout)")
        let (_, removedJSON) = try workspace.enrollJSON(["remove", "lee", "--command-id", "RM1"], environment: at(3))
        #expect(removedJSON["replayed"] as? Bool == true && removedJSON["status"] as? String == "pending", "\(removedJSON)")

        let (_, request) = try workspace.enrollJSON(["request", "mo"], environment: at(0))
        let uri = try #require(request["otpauthURI"] as? String)
        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: uri)), at: now + 10)
        #expect(try workspace.enroll(["confirm", "mo", code, "--command-id", "C1"], environment: at(10)).stdout.hasPrefix("Code accepted"))
        _ = try workspace.enroll(["regenerate", "mo"], environment: at(100))
        let confirmed = try workspace.enroll(["confirm", "mo", code, "--command-id", "C1"], environment: at(100))
        #expect(confirmed.status == 0 && confirmed.stdout.contains("(its code was accepted then); nothing was done now. Now mo is active, with a new secret from regenerate awaiting its code."), "\(confirmed.stdout)")
        #expect(try workspace.enroll(["cancel", "mo", "--command-id", "X1"], environment: at(101)).stdout.hasPrefix("Cancelled"))
        _ = try workspace.enroll(["regenerate", "mo"], environment: at(102))
        let cancelled = try workspace.enroll(["cancel", "mo", "--command-id", "X1"], environment: at(103))
        #expect(cancelled.stdout.contains("(it cancelled a regenerate then); nothing was done now. Now mo is active, with a new secret"), "\(cancelled.stdout)")
        let (_, cancelledJSON) = try workspace.enrollJSON(["cancel", "mo", "--command-id", "X1"], environment: at(103))
        #expect(cancelledJSON["replayed"] as? Bool == true && cancelledJSON["status"] as? String == "active", "\(cancelledJSON)")
        #expect(try workspace.enrollJSON(["status", "mo"], environment: at(103)).1["replacementPending"] as? Bool == true)

        // A refusal repeated: said to be the first answer, whose attempts left no longer hold.
        _ = try workspace.enroll(["request", "ned"], environment: at(200))
        #expect(try workspace.enroll(["confirm", "ned", "000000", "--command-id", "w1"], environment: at(201)).stderr.contains("(4 attempts left before a lock)"))
        _ = try workspace.enroll(["confirm", "ned", "000001", "--command-id", "w2"], environment: at(202))
        let again = try workspace.enroll(["confirm", "ned", "000000", "--command-id", "w1"], environment: at(203))
        #expect(again.status == 1 && again.stderr.hasPrefix("enroll: error: command id 'w1' was handled before, and refused then: ") && again.stderr.contains("; nothing was done now"), "\(again.stderr)")
        let (_, againJSON) = try workspace.enrollJSON(["confirm", "ned", "000000", "--command-id", "w1"], environment: at(203))
        #expect((againJSON["message"] as? String)?.hasPrefix("command id 'w1' was handled before, and refused then: ") == true && againJSON["replayed"] as? Bool == true, "\(againJSON)")
        _ = try workspace.enroll(["remove", "nobody", "--command-id", "R9"], environment: at(204))
        let (repeated, object) = try workspace.enrollJSON(["remove", "nobody", "--command-id", "R9"], environment: at(205))
        #expect(repeated.status == 1 && object["replayed"] as? Bool == true && object["error"] as? String == "not_enrolled", "\(repeated.stdout)")
    }

    @Test("an expiry and a lock's end, which no one causes, are recorded under the actor (system) with the id of the command that found them; no one can act or enroll as (system)")
    func housekeepingActor() throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(now + offset)"] }
        _ = try workspace.enroll(["request", "jan"], environment: at(0))
        _ = try workspace.enroll(["confirm", "jan", "000000", "--max-failed-attempts", "1"], environment: at(5))
        _ = try workspace.enroll(["confirm", "jan", "000000", "--actor", "helpdesk", "--command-id", "late-1"], environment: at(2_000))
        let lines = try workspace.enroll(["history", "jan", "--json"], environment: at(2_000)).stdout.split(separator: "\n")
        let history = lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        let byType = Dictionary(history.map { ($0["type"] as? String ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        for type in ["PendingSecretExpired", "ConfirmationUnlocked"] {
            #expect(byType[type]?["actor"] as? String == "(system)" && byType[type]?["commandId"] as? String == "late-1", "\(type): \(byType[type] ?? [:])")
        }
        #expect(byType["EnrollmentRequested"]?["actor"] as? String == "jan")
        let before = try FixtureTests.eventCount(workspace.database)
        for arguments in [["request", "kim", "--actor", "(system)"], ["request", "(system)"]] {
            let refused = try workspace.enroll(arguments, environment: at(2_001))
            #expect(refused.status == 2 && refused.stderr.contains("'(system)' is the actor of the events the engine records by itself"), "\(refused.stderr)")
        }
        #expect(try FixtureTests.eventCount(workspace.database) == before)
    }

    @Test("refusals exit 1 with their machine code; bad input exits 2 and writes nothing")
    func exitCodes() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "frank"]).status == 0)
        let (notEnrolled, json) = try workspace.enrollJSON(["confirm", "nobody", "123456"])
        #expect(notEnrolled.status == 1)
        #expect(json["reason"] as? String == "not_enrolled")
        let before = workspace.databaseBytes()
        for arguments in [["confirm", "frank", "12a456"], ["request", "", "--issuer", "x"], ["request", "gina", "--digits", "9"], ["request", "gina", "--issuer", "A:B"], ["request", "gina", "--algorithm", "MD5"], ["bogus"]] {
            let result = try workspace.enroll(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): one line expected, got \(result.stderr)")
            #expect(result.stderr.hasPrefix("enroll: error: "))
        }
        #expect(workspace.databaseBytes() == before)
        let now = Int64(Date().timeIntervalSince1970)
        let frankSecret = try #require(secretParameter(of: try workspace.enroll(["reveal", "frank", "--format", "uri"]).stdout.trimmingCharacters(in: .newlines)))
        #expect(try workspace.enroll(["confirm", "frank", try Oathtool.code(base32Secret: frankSecret, at: now)], environment: ["ENROLL_NOW": "\(now)"]).status == 0)
        let (again, againJSON) = try workspace.enrollJSON(["request", "frank"])
        #expect(again.status == 1)
        #expect(againJSON["error"] as? String == "already_enrolled")
        let wrong = try workspace.enroll(["regenerate", "frank"])
        #expect(wrong.status == 0)
        let refused = try workspace.enroll(["confirm", "frank", "000000"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("(invalid_code)"))
    }

    @Test("reveal to a path that cannot be written is refused before the reveal is recorded (exit 3, output_unwritable)")
    func revealUnwritableOutput() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "olga"]).status == 0)
        let before = workspace.databaseBytes()
        let result = try workspace.enroll(["reveal", "olga", "--format", "png", "--output", workspace.path("missing-dir/qr.png")])
        // The machine, not the command line: exit 3 output_unwritable, as the README lists it.
        #expect(result.status == 3)
        #expect(result.stderr.contains("does not exist"))
        let json = try workspace.enroll(["reveal", "olga", "--json", "--output", workspace.path("missing-dir/qr.png")])
        #expect(json.status == 3 && json.stdout.contains("\"error\":\"output_unwritable\""), "\(json.stdout)")
        #expect(workspace.databaseBytes() == before)
    }

    @Test("--output never replaces the database, its -wal/-shm, or the key file (by name, through a link, through a hard link): exit 2, every file unchanged")
    func outputProtectsOwnFiles() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "olga"]).status == 0)
        // The -wal and -shm are gone once the last connection closes: refused by name then.
        #expect(symlink(workspace.keyFile, workspace.path("key-link")) == 0)
        #expect(link(workspace.database, workspace.path("db-hardlink")) == 0)
        let key = try Data(contentsOf: URL(fileURLWithPath: workspace.keyFile))
        let before = workspace.databaseBytes()
        let cases: [(String, String)] = [
            (workspace.keyFile, "it is the key file"), (workspace.path("key-link"), "it is the key file"),
            (workspace.database, "it is the enrollment database"), (workspace.path("db-hardlink"), "it is the enrollment database"),
            (workspace.database + "-wal", "the database's write-ahead log"), (workspace.database + "-shm", "the database's shared-memory file"),
        ]
        for (target, role) in cases {
            for command in [["reveal", "olga", "--format", "uri"], ["reveal", "olga", "--format", "png"], ["export"]] {
                let result = try workspace.enroll(command + ["--output", target])
                #expect(result.status == 2, "\(command) \(target): exit \(result.status) \(result.stderr)")
                #expect(result.stderr.contains(role) && result.stderr.contains("which the output would replace"), "\(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            }
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.keyFile)) == key)
        #expect(workspace.databaseBytes() == before, "nothing recorded, nothing replaced")
        #expect(try workspace.enroll(["status", "olga"]).stdout.contains("status: pending"))
    }

    @Test("reveal --output: a place where no file can be created is exit 3 with nothing recorded; the file holding the secret is created 0600 whatever the umask")
    func revealOutputFile() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "olga"]).status == 0)
        let events = try SQLite3.eventTypes(workspace.database)
        for target in ["/proc/version", "/proc/self/nothing.png"] {
            let result = try workspace.enroll(["reveal", "olga", "--format", "png", "--output", target])
            #expect(result.status == 3 || result.status == 2, "\(target): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("cannot write \(target)"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(try SQLite3.eventTypes(workspace.database) == events, "a reveal nobody saw is not recorded")
        let sh = try Processes.tool("sh", package: "dash")
        let enroll = try Processes.product("enroll")
        let written = try Processes.run(sh, ["-c", "umask 022; exec \"$0\" reveal olga --format uri --output qr.uri --db \"$1\" --key-file \"$2\"", enroll, workspace.database, workspace.keyFile], directory: workspace.directory)
        #expect(written.status == 0, "\(written.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: workspace.path("qr.uri"))
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try String(contentsOfFile: workspace.path("qr.uri"), encoding: .utf8).hasPrefix("otpauth://totp/"))
        #expect(try SQLite3.eventTypes(workspace.database) == events + ["QRCodeRevealed"])
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.contains(".partial-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("--output takes any name the file system does, up to 255 bytes (its temporary name beside it shortened to fit): reveal and export write it, each reveal recorded once; a longer name is refused before anything is recorded (exit 2)")
    func longestOutputNames() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "olga"]).status == 0)
        var events = try SQLite3.eventTypes(workspace.database)
        // ASCII, and two-byte letters whose name ends mid-way through the room left beside the suffix.
        for name in [String(repeating: "y", count: 255), String(repeating: "é", count: 127) + "u"] {
            let reveal = try workspace.enroll(["reveal", "olga", "--format", "uri", "--output", workspace.path(name)])
            #expect(reveal.status == 0, "\(name.utf8.count) bytes: \(reveal.stderr)")
            #expect(try String(contentsOfFile: workspace.path(name), encoding: .utf8).hasPrefix("otpauth://totp/"))
            events.append("QRCodeRevealed")
            #expect(try SQLite3.eventTypes(workspace.database) == events, "one reveal recorded")
            try FileManager.default.removeItem(atPath: workspace.path(name))
            let export = try workspace.enroll(["export", "--output", workspace.path(name)])
            #expect(export.status == 0, "\(name.utf8.count) bytes: \(export.stderr)")
            let printed = try workspace.enroll(["export", "--output", "-"])
            #expect(printed.status == 0 && printed.stdout.hasPrefix("{"), "\(printed.stderr)")
            #expect(try String(contentsOfFile: workspace.path(name), encoding: .utf8) == printed.stdout, "the export as printed")
            try FileManager.default.removeItem(atPath: workspace.path(name))
        }
        let long = String(repeating: "z", count: 256)
        let refused = try workspace.enroll(["reveal", "olga", "--format", "uri", "--output", workspace.path(long)])
        #expect(refused.status == 2, "\(refused.stderr)")
        #expect(refused.stderr.contains("--output has a name of 256 bytes, more than the 255 a file or directory name can have; give a shorter path"), "\(refused.stderr)")
        #expect(try SQLite3.eventTypes(workspace.database) == events, "a reveal nobody saw is not recorded")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.contains(".partial-") || $0.contains(".link-") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test("--output - writes to stdout, as most tools read it, and creates no file named '-' (reveal and export); ./- is a file of that name")
    func outputDash() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "olga"]).status == 0)
        let enroll = try Processes.product("enroll")
        let options = ["--db", workspace.database, "--key-file", workspace.keyFile]
        let reveal = try Processes.run(enroll, ["reveal", "olga", "--format", "uri", "--output", "-"] + options, directory: workspace.directory)
        #expect(reveal.status == 0 && reveal.stdout.hasPrefix("otpauth://totp/"), "\(reveal.stdout)\(reveal.stderr)")
        let export = try Processes.run(enroll, ["export", "-o", "-"] + options, directory: workspace.directory)
        #expect(export.status == 0 && export.stdout.split(separator: "\n").count == 3 && export.stderr.contains("Anchor: 2:"), "\(export.stdout)\(export.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("-")), "no file named '-'")
        let named = try Processes.run(enroll, ["export", "--output", "./-"] + options, directory: workspace.directory)
        #expect(named.status == 0 && FileManager.default.fileExists(atPath: workspace.path("-")), "\(named.stderr)")
    }

    @Test("with --json every refusal of the command line is one JSON object on stdout (error code and message), exit 2, nothing written; input refused while the line is read has its own code, a line that cannot be read is usage")
    func jsonUsageErrors() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "olga"]).status == 0)
        let before = workspace.databaseBytes()
        let cases: [([String], String)] = [
            (["confirm", "olga", "12345"], "invalid_code_format"), (["confirm", "olga", "abcdef"], "invalid_code_format"),
            (["confirm", "olga", "-123456"], "invalid_code_format"), (["request"], "usage"), (["audit", "--since", "bad"], "usage"),
            (["status", "olga", "--bogus"], "usage"),
            // Input refused while the command line is read has its own code, as the README's table lists it.
            (["verify", "--anchor", "12"], "anchor_malformed"), (["verify", "--anchor", "0:" + String(repeating: "a", count: 64)], "anchor_position_out_of_range"),
            (["request", ""], "invalid_user"), (["request", "zz", "--digits", "5"], "invalid_digits"), (["request", "zz", "--period", "0"], "invalid_period"),
            (["request", "zz", "--algorithm", "MD5"], "invalid_algorithm"), (["request", "zz", "--issuer", "a:b"], "invalid_issuer"),
            (["request", "zz", "--actor", "a/b"], "invalid_actor"), (["request", "zz", "--command-id", "a b"], "invalid_command_id"),
        ]
        for (arguments, code) in cases {
            let result = try workspace.enroll(arguments + ["--json"])
            #expect(result.status == 2, "\(arguments): exit \(result.status)")
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 1, "\(arguments): \(result.stdout)")
            let object = (try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any]
            #expect(object?["error"] as? String == code, "\(arguments): \(result.stdout)")
            #expect((object?["message"] as? String).map { !$0.isEmpty && result.stderr.contains($0) } == true, "the same message on both: \(result.stdout) \(result.stderr)")
        }
        #expect(workspace.databaseBytes() == before)
    }

    @Test("a refused value holding a line break is echoed with it shown as '?', so the one-line message keeps its remedy")
    func lineBreakInEchoedValue() throws {
        let workspace = try Workspace()
        for (arguments, echoed, remedy) in [
            (["verify", "--anchor", "12\nx"], "not '12?x'", "(a position, a colon, 64 hex digits)"),
            (["audit", "--since", "bad\nx"], "'bad?x' is not a time", "use 2026-11-29T13:06:16Z"),
            (["activity", "--since", "bad\nx"], "'bad?x' is not a day", "use YYYY-MM-DD"),
            (["bogus\ncmd"], "there is no command 'bogus?cmd'", "run `enroll --help`"),
        ] {
            let result = try workspace.enroll(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(echoed) && result.stderr.contains(remedy), "\(arguments): \(result.stderr)")
        }
    }

    @Test("--help explains every subcommand and exits 0")
    func help() throws {
        let workspace = try Workspace()
        let result = try workspace.enroll(["--help"])
        #expect(result.status == 0)
        for subcommand in ["request", "confirm", "reveal", "regenerate", "remove", "status"] {
            #expect(result.stdout.contains(subcommand))
        }
        let request = try workspace.enroll(["help", "request"])
        #expect(request.status == 0)
        #expect(request.stdout.contains("--algorithm"))
    }

    @Test("commands that only read show only the options that concern them, with the defaults named, and still accept the writers' options; --version names the schemas")
    func readCommandsHelp() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        for command in ["status", "history", "audit", "activity", "export", "verify"] {
            let help = try workspace.enroll([command, "--help"])
            #expect(help.status == 0)
            let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("default ./enrollment.sqlite") && text.contains("JSON Lines"), "\(command): \(help.stdout)")
            for hidden in ["--key-file", "--durability", "--lock-minutes", "--max-failed-attempts"] {
                #expect(!text.contains(hidden), "\(command) --help shows \(hidden)")
            }
        }
        let confirm = try workspace.enroll(["confirm", "--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(confirm.contains("--key-file") && confirm.contains("default ./enrollment.key") && confirm.contains("--lock-minutes"), "\(confirm)")
        // import opens no key and decides nothing; keys rotate decides nothing: the lock's limits
        // (and for import the key file) are not theirs, though both still wait for a busy writer.
        for (words, shown, hidden) in [(["import"], ["--durability", "--busy-timeout"], ["--key-file", "--lock-minutes", "--max-failed-attempts"]),
                                       (["keys", "rotate"], ["--key-file", "The master key file in force", "--busy-timeout"], ["--lock-minutes", "--max-failed-attempts", "first use"])] {
            let text = try workspace.enroll(words + ["--help"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            for option in shown { #expect(text.contains(option), "\(words) --help lacks \(option)") }
            for option in hidden { #expect(!text.contains(option), "\(words) --help shows \(option)") }
        }
        // --version names the schemas that errors about "a newer version of enroll" refer to.
        for tool in ["enroll", "rebuild-projections"] {
            let version = try Processes.run(try Processes.product(tool), ["--version"])
            #expect(version.status == 0 && version.stdout.contains("journal schema v4-key-history; projections authenticators v4, enrollment_activity v2"), "\(tool): \(version.stdout) \(version.stderr)")
        }
        // A script passing the same options to every command keeps working.
        let audit = try workspace.enroll(["audit", "--key-file", workspace.keyFile, "--durability", "NORMAL", "--lock-minutes", "5"])
        #expect(audit.status == 0 && audit.stdout.contains("EnrollmentRequested"), "\(audit.stderr)")
    }

    @Test("confirm USER - reads the code from standard input (kept out of the process list); no code, a wrong line or an endless one is exit 2 with nothing recorded")
    func codeFromStandardInput() throws {
        let workspace = try Workspace()
        let (_, json) = try workspace.enrollJSON(["request", "ivy"])
        let code = try Oathtool.code(base32Secret: try secret(json))
        let before = workspace.databaseBytes()
        for (input, reason) in [
            ("", "standard input held no code"), ("\n\(code)\n", "standard input held no code"),
            ("x\(code)\n", "other than the digits"), (String(repeating: "7", count: 100_000), "longer than 64 bytes"),
        ] {
            let refused = try workspace.enroll(["confirm", "ivy", "-", "--json"], input: Data(input.utf8))
            let out = (try? JSONSerialization.jsonObject(with: refused.stdoutData)) as? [String: Any] ?? [:]
            #expect(refused.status == 2 && out["error"] as? String == "invalid_code_format", "\(input.prefix(20)): \(refused.stdout)")
            #expect((out["message"] as? String)?.contains(reason) == true && refused.stderr.contains(reason), "\(input.prefix(20)): \(refused.stderr)")
        }
        #expect(workspace.databaseBytes() == before, "a refused code from standard input changed the database")
        // A line as `echo` or a Windows editor ends it.
        let confirmed = try workspace.enroll(["confirm", "ivy", "-"], input: Data("\(code)\r\n".utf8))
        #expect(confirmed.status == 0 && confirmed.stdout.contains("now active"), "\(confirmed.stderr)")
        #expect(!confirmed.stderr.contains("Code:"), "the prompt is for a terminal only")
    }

    @Test("confirm takes a code as apps group it (\"123 456\"), spaces dropped; a tab or a dash inside is still exit 2")
    func groupedCode() throws {
        let workspace = try Workspace()
        let (_, json) = try workspace.enrollJSON(["request", "gus"])
        let code = try Oathtool.code(base32Secret: try secret(json))
        for typed in ["\(code.prefix(3))\t\(code.dropFirst(3))", "\(code.prefix(3))-\(code.dropFirst(3))"] {
            let refused = try workspace.enroll(["confirm", "gus", typed])
            #expect(refused.status == 2 && refused.stderr.contains("invalid code"), "\(refused.stderr)")
        }
        let confirmed = try workspace.enroll(["confirm", "gus", "\(code.prefix(3)) \(code.dropFirst(3))"])
        #expect(confirmed.status == 0 && confirmed.stdout.contains("now active"), "\(confirmed.stderr)")
        // Spaces alone are no code.
        let blank = try workspace.enroll(["confirm", "gus", "   "])
        #expect(blank.status == 2 && blank.stderr.contains("it is empty"), "\(blank.stderr)")
    }

    @Test("for a user id that begins with '-', the hint's command puts -- before it, and that command works as printed")
    func hintForDashUser() throws {
        let workspace = try Workspace()
        let requested = try workspace.enroll(["request", "--", "-bob"])
        #expect(requested.status == 0 && requested.stdout.contains("run `enroll confirm --db \(workspace.database) --key-file \(workspace.keyFile) -- -bob CODE`"), "\(requested.stdout)")
        let uri = try workspace.enroll(["reveal", "--format", "uri", "--", "-bob"]).stdout
        let base32 = try #require(URLComponents(string: uri.trimmingCharacters(in: .whitespacesAndNewlines))?.queryItems?.first { $0.name == "secret" }?.value)
        let code = try Oathtool.code(base32Secret: base32)
        let confirmed = try workspace.enroll(["confirm", "--", "-bob", code])
        #expect(confirmed.status == 0, "\(confirmed.stderr)")
    }

    @Test("confirm --json's status is as of now, as status says it: a malformed code for an 8-digit first secret past its expiry answers status none, before and after the expiry is recorded")
    func refusalStatusAsOfNow() throws {
        let workspace = try Workspace()
        let now: Int64 = 1_764_400_000
        #expect(try workspace.enroll(["request", "alice", "--digits", "8"], environment: ["ENROLL_NOW": "\(now)"]).status == 0)
        let late = ["ENROLL_NOW": "\(now + 700)"]
        for code in ["123456", "12345678", "123456"] {
            let (result, json) = try workspace.enrollJSON(["confirm", "alice", code], environment: late)
            #expect(result.status != 0 && json["status"] as? String == "none" && json["replacementPending"] as? Bool == false, "\(code): \(json)")
        }
        let (_, status) = try workspace.enrollJSON(["status", "alice"], environment: late)
        #expect(status["status"] as? String == "none", "\(status)")
    }

    @Test("confirming after the pending secret expired says to request again, and status keeps saying the request expired until the next one")
    func expired() throws {
        let workspace = try Workspace()
        let now = Int64(Date().timeIntervalSince1970)
        let (_, json) = try workspace.enrollJSON(["request", "hank"], environment: ["ENROLL_NOW": "\(now)"])
        let secret = try secret(json)
        let late = now + 601
        let (result, out) = try workspace.enrollJSON(["confirm", "hank", try Oathtool.code(base32Secret: secret, at: late)], environment: ["ENROLL_NOW": "\(late)"])
        #expect(result.status == 1)
        #expect(out["reason"] as? String == "enrollment_expired")
        #expect(result.stderr.contains("request again"))

        // That refusal recorded the expiry; a command for the expired secret still learns it expired.
        let (second, secondJSON) = try workspace.enrollJSON(["confirm", "hank", "123456"], environment: ["ENROLL_NOW": "\(late)"])
        #expect(second.status == 1 && secondJSON["reason"] as? String == "enrollment_expired", "\(second.stdout)")
        #expect(try workspace.enrollJSON(["reveal", "hank"], environment: ["ENROLL_NOW": "\(late)"]).1["error"] as? String == "enrollment_expired")
        // Status still says what became of the request.
        let status = try workspace.enroll(["status", "hank"], environment: ["ENROLL_NOW": "\(late)"])
        #expect(status.stdout.contains("status: none") && status.stdout.contains("expired before it was confirmed; request again"), "\(status.stdout)")
        let (_, statusJSON) = try workspace.enrollJSON(["status", "hank"], environment: ["ENROLL_NOW": "\(late)"])
        #expect(statusJSON["pendingExpired"] as? Bool == true && statusJSON["requestedAt"] as? String != nil, "\(statusJSON)")
        // A new request is what status shows next.
        #expect(try workspace.enroll(["request", "hank"], environment: ["ENROLL_NOW": "\(late)"]).status == 0)
        let again = try workspace.enroll(["status", "hank"], environment: ["ENROLL_NOW": "\(late)"])
        #expect(again.stdout.contains("status: pending") && !again.stdout.contains("expired"), "\(again.stdout)")
    }

    @Test("status counts wrong codes as the lock does: a new request keeps the streak, so status and the next refusal agree on the attempts left")
    func streakAcrossRequests() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "fay"]).status == 0)
        #expect(try workspace.enroll(["confirm", "fay", "000000"]).stderr.contains("4 attempts left"))
        #expect(try workspace.enroll(["request", "fay"]).status == 0)
        let (_, status) = try workspace.enrollJSON(["status", "fay"])
        #expect(status["failedAttempts"] as? Int == 1 && status["remainingAttempts"] as? Int == 4, "\(status)")
        let next = try workspace.enroll(["confirm", "fay", "000000"])
        #expect(next.stderr.contains("3 attempts left"), "\(next.stderr)")
        #expect(try workspace.enroll(["verify"]).status == 0, "the stored projection is the one a fold of the journal gives")
    }

    @Test("the key file is created with mode 0600, and a wrong key file is refused with exit 3")
    func keyFile() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "ivan"]).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: workspace.keyFile)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let other = workspace.path("other.key")
        try Data("\(Data((0..<32).map { UInt8($0) }).base64EncodedString())\n".utf8).write(to: URL(fileURLWithPath: other))
        let before = workspace.databaseBytes()
        let result = try workspace.enroll(["reveal", "ivan", "--key-file", other])
        #expect(result.status == 3)
        #expect(result.stderr.contains("not the key this database was sealed with"))
        #expect(workspace.databaseBytes() == before)
    }

    @Test("a key file its group or other users can read gets a one-line warning naming the mode and the fix; the command still runs")
    func exposedKeyFile() throws {
        let workspace = try Workspace()
        let quiet = try workspace.enroll(["request", "ivan"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("warning"), "\(quiet.stderr)")
        for (mode, who) in [(0o644, "other users"), (0o640, "its group"), (0o604, "other users")] {
            #expect(chmod(workspace.keyFile, mode_t(mode)) == 0)
            let result = try workspace.enroll(["reveal", "ivan", "--format", "uri"])
            #expect(result.status == 0 && result.stdout.hasPrefix("otpauth://"), "\(result.stderr)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stderr)")
            #expect(result.stderr.hasPrefix("enroll: warning: the key file \(workspace.keyFile) can be read or changed by \(who) (mode \(String(mode, radix: 8)))"), "\(result.stderr)")
            #expect(result.stderr.contains("chmod 600 \(workspace.keyFile)"), "\(result.stderr)")
        }
        #expect(chmod(workspace.keyFile, 0o600) == 0)
        let fixed = try workspace.enroll(["reveal", "ivan", "--format", "uri"])
        #expect(fixed.status == 0 && fixed.stderr.isEmpty, "\(fixed.stderr)")

        // A path with a space: the chmod it suggests is quoted, and copied into a shell it works.
        let spaced = workspace.path("my key.key")
        #expect(rename(workspace.keyFile, spaced) == 0 && chmod(spaced, 0o644) == 0)
        let warned = try workspace.enroll(["reveal", "ivan", "--format", "uri", "--key-file", spaced])
        let hint = try #require(warned.stderr.range(of: "`chmod 600 ").map { String(warned.stderr[$0.lowerBound...].dropFirst().prefix { $0 != "`" }) }, "\(warned.stderr)")
        #expect(hint == "chmod 600 '\(spaced)'", "\(hint)")
        #expect(try Processes.run("/bin/sh", ["-c", hint]).status == 0)
        let quietAgain = try workspace.enroll(["reveal", "ivan", "--format", "uri", "--key-file", spaced])
        #expect(quietAgain.status == 0 && quietAgain.stderr.isEmpty, "\(quietAgain.stderr)")

        // Mode 600, but owned by another account (run as root, nobody): that account can read the
        // key or put another in its place. The hint gives it to this account.
        guard geteuid() == 0 else { return }
        #expect(chown(spaced, 65534, 65534) == 0)
        let owned = try workspace.enroll(["reveal", "ivan", "--format", "uri", "--key-file", spaced])
        #expect(owned.status == 0 && owned.stdout.hasPrefix("otpauth://"), "\(owned.stderr)")
        #expect(owned.stderr.split(separator: "\n").count == 1, "\(owned.stderr)")
        #expect(owned.stderr.hasPrefix("enroll: warning: the key file \(spaced) belongs to another account, "), "\(owned.stderr)")
        #expect(owned.stderr.contains("(uid 65534), which can read or replace it"), "\(owned.stderr)")
        #expect(owned.stderr.contains("run enroll as the account that owns it; or, for root to use it, `chown root '\(spaced)'` and `chmod 600 '\(spaced)'`"), "\(owned.stderr)")
        #expect(chown(spaced, 0, 0) == 0)
        let root = try workspace.enroll(["reveal", "ivan", "--format", "uri", "--key-file", spaced])
        #expect(root.status == 0 && root.stderr.isEmpty, "\(root.stderr)")
    }

    @Test("help for a command that does not exist is refused (exit 2, one line); help for real, nested and help itself still answers, options after the topic ignored")
    func helpTopics() throws {
        let workspace = try Workspace()
        let json = try workspace.enroll(["help", "bogus", "--json"])
        #expect(json.status == 2 && json.stdout == "{\"error\":\"usage\",\"message\":\"there is no command 'bogus' to show help for\"}\n", "\(json.stdout)")
        // A start several commands share is answered with all of them.
        let begun = try workspace.enroll(["re", "lee"])
        #expect(begun.status == 2 && begun.stderr.contains("did you mean one of 'request', 'reveal', 'regenerate', 'remove', 'replay'?"), "\(begun.stderr)")
        for words in [["bogus"], ["keys", "bogus"], ["status", "extra"]] {
            let result = try workspace.enroll(["help"] + words)
            #expect(result.status == 2, "help \(words): exit \(result.status)")
            #expect(result.stdout.isEmpty, "help \(words): \(result.stdout.prefix(80))")
            #expect(result.stderr == "enroll: error: there is no command '\(words.last ?? "")' to show help for (run `enroll help` for the list of commands)\n", "\(result.stderr)")
        }
        for (words, usage) in [([String](), "USAGE: enroll <subcommand>"), (["status"], "USAGE: enroll status"), (["keys", "rotate"], "USAGE: enroll keys rotate"),
                               (["serve"], "USAGE: enroll serve"), (["help"], "USAGE: enroll help"),
                               // Options after the topic are no topic (help has none): the help is shown.
                               (["--json"], "USAGE: enroll <subcommand>"), (["status", "--json"], "USAGE: enroll status"), (["--db", "x"], "USAGE: enroll <subcommand>")] {
            let result = try workspace.enroll(["help"] + words)
            #expect(result.status == 0 && result.stdout.contains(usage), "help \(words): exit \(result.status) \(result.stdout.prefix(200)) \(result.stderr)")
        }
        // `enroll keys` alone does nothing: a usage error, not help's success.
        let keys = try workspace.enroll(["keys"])
        #expect(keys.status == 2 && keys.stderr.contains("`enroll keys` needs a subcommand: rotate"), "\(keys.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
    }
}

/// The Base32 secret inside a JSON answer's otpauth URI.
private func secret(_ json: [String: Any]) throws -> String {
    let uri = try #require(json["otpauthURI"] as? String)
    return try #require(secretParameter(of: uri))
}
