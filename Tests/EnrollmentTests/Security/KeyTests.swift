import CryptoPrimitives
import Enrollment
import Foundation
import Synchronization
import OneTimePassword
import Testing
import TestSupport

/// The master key file, key rotation and crypto-shredding, through the command line and the raw files.
@Suite("keys and forgetting")
struct KeyTests {
    /// Every stored column of every event, as sqlite3 prints it: what "the journal untouched" compares.
    static func journalDump(_ workspace: Workspace) throws -> String {
        try SQLite3.query(workspace.database, """
            SELECT position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hex(hash)
            FROM events ORDER BY position
            """)
    }

    static func masterKey(_ path: String) throws -> [UInt8] {
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return Array(try #require(Data(base64Encoded: text)))
    }

    /// alice active (confirmed with oathtool's code), bob pending, carol removed.
    static func populated() throws -> (Workspace, aliceURI: String, bobSecret: String) {
        let workspace = try Workspace()
        let (_, alice) = try workspace.enrollJSON(["request", "alice"])
        let aliceURI = try #require(alice["otpauthURI"] as? String)
        let aliceCode = try Oathtool.code(base32Secret: try #require(secretParameter(of: aliceURI)))
        #expect(try workspace.enroll(["confirm", "alice", aliceCode]).status == 0)
        let (_, bob) = try workspace.enrollJSON(["request", "bob"])
        let bobURI = try #require(bob["otpauthURI"] as? String)
        #expect(try workspace.enroll(["request", "carol"]).status == 0)
        #expect(try workspace.enroll(["remove", "carol"]).status == 0)
        return (workspace, aliceURI, try #require(secretParameter(of: bobURI)))
    }

    @Test("keys rotate's text names the new key file as one shell word (quoted when it has a space), and that --key-file works as printed")
    func rotateQuotesTheNewPath() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let newKey = workspace.path("new key.key")
        let rotation = try workspace.enroll(["keys", "rotate", "--new-key-file", newKey])
        #expect(rotation.status == 0 && rotation.stdout.contains("From now on pass --key-file '\(newKey)' (or set ENROLL_KEY_FILE)"), "\(rotation.stdout)")
        let status = try Processes.run("/bin/sh", ["-c", "exec '\(try Processes.product("enroll"))' reveal alice --format uri --db '\(workspace.database)' --key-file '\(newKey)'"])
        #expect(status.status == 0 && status.stdout.hasPrefix("otpauth://"), "\(status.stderr)")
    }

    @Test("keys history shows when the master key was made and each rotation (time, key ids, data keys re-wrapped, who), in text and JSON, without the key file and without a byte of any key; a failed rotation records nothing")
    func keyHistory() throws {
        let workspace = try Workspace()
        let empty = try workspace.enroll(["keys", "history"])
        #expect(empty.status == 3 && empty.stderr.contains("no enrollment database"), "\(empty.stderr)")
        #expect(try workspace.enroll(["request", "alice"], environment: ["ENROLL_NOW": "1796623200"]).status == 0)
        #expect(try workspace.enroll(["request", "bob"], environment: ["ENROLL_NOW": "1796623260"]).status == 0)
        let first = try workspace.enroll(["keys", "rotate", "--new-key-file", workspace.path("k2.key"), "--actor", "Ops Team"], environment: ["ENROLL_NOW": "1796626800"])
        #expect(first.status == 0, "\(first.stderr)")
        // Refused (the file exists): nothing recorded.
        #expect(try workspace.enroll(["keys", "rotate", "--key-file", workspace.path("k2.key"), "--new-key-file", workspace.keyFile]).status == 3)
        #expect(try workspace.enroll(["keys", "rotate", "--key-file", workspace.path("k2.key"), "--new-key-file", workspace.path("k3.key")], environment: ["ENROLL_NOW": "1796630400"]).status == 0)
        // The public key id, computed by OpenSSL's command line: HMAC-SHA256(key, "enroll key id"), 16 bytes.
        let ids = try [workspace.keyFile, workspace.path("k2.key"), workspace.path("k3.key")].map { path in
            let mac = try Processes.run(
                "/usr/bin/openssl", ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:" + Hex.string(try Self.masterKey(path))],
                input: Data("enroll key id".utf8))
            return String(try #require(mac.stdout.split(separator: " ").last).prefix(32))
        }
        // No key file: a database whose key files are all gone still tells its key history.
        let text = try workspace.enroll(["keys", "history", "--key-file", workspace.path("absent.key")])
        #expect(text.status == 0, "\(text.stderr)")
        let account = String(cString: try #require(getpwuid(geteuid())).pointee.pw_name)
        #expect(text.stdout == """
            2026-12-07T06:00:00Z  created  key \(ids[0]), with the first secret sealed
            2026-12-07T07:00:00Z  rotated  key \(ids[1]) replaced \(ids[0]), 2 data keys re-wrapped, by "Ops Team"
            2026-12-07T08:00:00Z  rotated  key \(ids[2]) replaced \(ids[1]), 2 data keys re-wrapped, by \(account)

            """, "\(text.stdout)")
        let json = try workspace.enroll(["keys", "history", "--json"])
        let objects = try json.stdout.split(separator: "\n").map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        #expect(objects.map { $0["action"] as? String } == ["created", "rotated", "rotated"])
        #expect(objects[1]["previousKeyId"] as? String == ids[0] && objects[1]["keyId"] as? String == ids[1] && objects[1]["rewrapped"] as? Int == 2)
        #expect(objects[1]["actor"] as? String == "Ops Team" && objects[2]["time"] as? String == "2026-12-07T08:00:00Z")
        for path in [workspace.keyFile, workspace.path("k2.key"), workspace.path("k3.key")] {
            let key = try Self.masterKey(path)
            #expect(!text.stdout.contains(Hex.string(key)) && !json.stdout.contains(Hex.string(key)) && !json.stdout.contains(Data(key).base64EncodedString()))
        }
        // It reads: an empty ENROLL_KEY_FILE concerns it not.
        #expect(try workspace.enroll(["keys", "history"], environment: ["ENROLL_KEY_FILE": ""]).stdout == text.stdout)
        // A row edited outside enroll is named, not shown as something it is not.
        for edit in ["action = 'destroyed'", "rewrapped = -5", "actor = NULL"] {
            _ = try SQLite3.query(workspace.database, "SAVEPOINT s; UPDATE key_history SET \(edit) WHERE id = 2; RELEASE s")
            let damaged = try workspace.enroll(["keys", "history"])
            #expect(damaged.status == 3 && damaged.stderr.contains("the key history of") && damaged.stderr.contains("has a damaged row (id 2)"), "\(edit): \(damaged.stderr)")
            _ = try SQLite3.query(workspace.database, "UPDATE key_history SET action = 'rotated', rewrapped = 2, actor = 'Ops Team' WHERE id = 2")
        }
        _ = try SQLite3.query(workspace.database, "UPDATE key_history SET actor = 'someone' WHERE id = 1")
        #expect(try workspace.enroll(["keys", "history"]).stderr.contains("has a damaged row (id 1)"), "an actor on a created row")
    }

    @Test("keys rotate interrupted (Ctrl-C, SIGTERM) before it commits says the old key is still in force and removes NEW, which opens nothing; the old key still opens every secret", arguments: [SIGINT, SIGTERM])
    func rotateInterrupted(_ signal: Int32) throws {
        let (workspace, aliceURI, _) = try Self.populated()
        // Another connection holds the write lock: the rotation waits inside its transaction,
        // its new key file written.
        let lock = try SQLiteShellTransaction(workspace.database, begin: "BEGIN IMMEDIATE")
        defer { lock.end() }
        let newKey = workspace.path("new.key")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Processes.product("enroll"))
        process.arguments = ["keys", "rotate", "--db", workspace.database, "--key-file", workspace.keyFile, "--new-key-file", newKey, "--busy-timeout", "30"]
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: newKey) && Date() < deadline { usleep(5_000) }
        try #require(FileManager.default.fileExists(atPath: newKey), "the new key file was never written")
        usleep(200_000)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        lock.end()
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(said == "enroll: interrupted; nothing was rotated: the old key \(workspace.keyFile) is still in force, and \(newKey), which opened nothing, was removed; run the same command again\n", "\(said)")
        #expect(!FileManager.default.fileExists(atPath: newKey))
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri"])
        #expect(reveal.status == 0 && reveal.stdout.hasPrefix(aliceURI), "\(reveal.stderr)")
        #expect(try workspace.enroll(["keys", "rotate", "--new-key-file", newKey]).status == 0, "the same command again")
    }

    @Test("keys rotate through a --key-file that is a symbolic link says to destroy the file it leads to as well: destroying the link alone leaves the old key opening every backup; both key files named by absolute paths")
    func rotateThroughLinkNamesItsTarget() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice", "--key-file", workspace.path("real.key")]).status == 0)
        try FileManager.default.createSymbolicLink(atPath: workspace.path("link.key"), withDestinationPath: "real.key")
        // Given relative to the directory it runs in: both files named by their absolute paths.
        let rotation = try workspace.enroll(["keys", "rotate", "--key-file", "link.key", "--new-key-file", "new.key"])
        #expect(rotation.status == 0, "\(rotation.stderr)")
        #expect(rotation.stdout.contains("pass --key-file \(workspace.path("new.key")) (or set ENROLL_KEY_FILE); \(workspace.path("link.key")) no longer opens this database: destroy it (it is a link: destroy the file it leads to, \(workspace.path("real.key")), as well)"), "\(rotation.stdout)")
        // The key in force, by the name the link leads to: refused as the current key file (exit 2),
        // never told that it may be a killed rotation's leftover.
        try FileManager.default.createSymbolicLink(atPath: workspace.path("link2.key"), withDestinationPath: "new.key")
        let same = try workspace.enroll(["keys", "rotate", "--key-file", workspace.path("link2.key"), "--new-key-file", workspace.path("new.key")])
        #expect(same.status == 2 && same.stderr.contains("must differ from the current key file"), "\(same.stderr)")
        let direct = try workspace.enroll(["keys", "rotate", "--key-file", workspace.path("new.key"), "--new-key-file", workspace.path("newer.key")])
        #expect(direct.status == 0 && !direct.stdout.contains("it is a link"), "\(direct.stdout)")
    }

    @Test("keys rotate re-wraps every data key under a new key file; the journal is byte for byte the same; the old key file stops working")
    func rotate() throws {
        let (workspace, aliceURI, bobSecret) = try Self.populated()
        let journal = try Self.journalDump(workspace)
        let wrappedBefore = try SQLite3.query(workspace.database, "SELECT stream_id, hex(wrapped_key) FROM data_keys ORDER BY stream_id")
        #expect(wrappedBefore.split(separator: "\n").map { $0.split(separator: "|")[0] } == ["alice", "bob"])

        let newKey = workspace.path("rotated.key")
        let (rotation, json) = try workspace.enrollJSON(["keys", "rotate", "--new-key-file", newKey])
        #expect(rotation.status == 0, "\(rotation.stderr)")
        #expect(json["rewrapped"] as? Int == 2)
        let mode = try FileManager.default.attributesOfItem(atPath: newKey)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try Self.masterKey(newKey) != (try Self.masterKey(workspace.keyFile)))

        #expect(try Self.journalDump(workspace) == journal, "rotation must not touch the journal")
        let wrappedAfter = try SQLite3.query(workspace.database, "SELECT stream_id, hex(wrapped_key) FROM data_keys ORDER BY stream_id")
        let before = wrappedBefore.split(separator: "\n"), after = wrappedAfter.split(separator: "\n")
        #expect(after.count == 2)
        for (old, new) in zip(before, after) { #expect(old != new, "\(old.prefix(5)) was not re-wrapped") }

        // The old key file: refused with one clear error, exit 3, nothing written.
        let files = directorySnapshot(workspace.directory)
        let old = try workspace.enroll(["reveal", "alice", "--format", "uri"])
        #expect(old.status == 3)
        // Named as the key rotated away, with when and where to look, not as any other key.
        #expect(old.stderr.contains("holds a key this database no longer uses: `enroll keys rotate` replaced it at 20")
                && old.stderr.contains("pass --key-file with the key file that rotation wrote (`enroll keys history --db \(workspace.database)` names the key in force)"), "\(old.stderr)")
        let (_, refusal) = try workspace.enrollJSON(["reveal", "alice", "--format", "uri"])
        #expect(refusal["error"] as? String == "key_file_mismatch", "the code stays: \(refusal)")
        #expect(directorySnapshot(workspace.directory) == files)

        // The new key file opens the same secrets.
        let withNew = ["--key-file", newKey]
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri"] + withNew)
        #expect(reveal.stdout.trimmingCharacters(in: .newlines) == aliceURI)
        let confirm = try workspace.enroll(["confirm", "bob", try Oathtool.code(base32Secret: bobSecret)] + withNew)
        #expect(confirm.status == 0, "\(confirm.stderr)")
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a key file (--key-file, ENROLL_KEY_FILE, keys rotate's --new-key-file) that is the database or a file SQLite keeps beside it, by name or through a link, is refused (exit 2) by the commands that use a key: SQLite deleted a key written as DB-journal on its next open, and every secret with it")
    func keyFileAmongDatabaseFiles() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let journal = workspace.database + "-journal"
        let link = workspace.path("link.key")
        _ = symlink(journal, link)
        for newKey in [journal, workspace.database + "-wal", link, workspace.database] {
            let refused = try workspace.enroll(["keys", "rotate", "--new-key-file", newKey])
            #expect(refused.status == 2 && refused.stderr.contains("which SQLite overwrites or deletes, and the key with it"), "\(newKey): \(refused.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: journal))
        let fresh = workspace.path("d.sqlite")
        let created = try workspace.enroll(["request", "bob", "--db", fresh, "--key-file", fresh + "-journal"])
        #expect(created.status == 2 && !FileManager.default.fileExists(atPath: fresh) && !FileManager.default.fileExists(atPath: fresh + "-journal"), "\(created.stderr)")
        let variable = try Processes.run(
            try Processes.product("enroll"), ["reveal", "alice"], environment: ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.database + "-shm"],
            directory: workspace.directory)
        #expect(variable.status == 2 && variable.stderr.contains("ENROLL_KEY_FILE"), "\(variable.stderr)")
        // A command that only reads opens no key file: such a setting concerns it not, whichever
        // way its options are written.
        for arguments in [["status", "alice", "--db", workspace.database], ["status", "alice", "--db=" + workspace.database], ["history", "alice", "--db", workspace.database]] {
            let read = try Processes.run(try Processes.product("enroll"), arguments, environment: ["ENROLL_KEY_FILE": workspace.database], directory: workspace.directory)
            #expect(read.status == 0 && read.stdout.contains("alice"), "\(arguments): \(read.stderr)")
        }
        // A command that writes a database (import) still refuses one.
        let exported = workspace.path("journal.jsonl")
        #expect(try workspace.enroll(["export", "--output", exported]).status == 0)
        let imported = workspace.path("imported.sqlite")
        let importing = try Processes.run(try Processes.product("enroll"), ["import", exported, "--db", imported], environment: ["ENROLL_KEY_FILE": imported + "-journal"], directory: workspace.directory)
        #expect(importing.status == 2 && importing.stderr.contains("which SQLite overwrites or deletes") && !FileManager.default.fileExists(atPath: imported), "\(importing.stderr)")
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri"]).status == 0, "the key in use still opens the secrets")
    }

    @Test("keys rotate refuses to overwrite a file or a dangling link, a wrong current key or a missing database: exit 3 and nothing written")
    func rotateRefusals() throws {
        let (workspace, _, _) = try Self.populated()
        try Data("keep me\n".utf8).write(to: URL(fileURLWithPath: workspace.path("existing.key")))
        try Data((Data(repeating: 9, count: 32).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: workspace.path("wrong.key")))
        try FileManager.default.createSymbolicLink(atPath: workspace.path("dangling.key"), withDestinationPath: "/nonexistent/enroll.key")
        let cases: [([String], [String: String], String)] = [
            // Said before the key is made, not as link(2)'s bare "File exists".
            (["keys", "rotate", "--new-key-file", workspace.path("dangling.key")], [:], "a symbolic link that leads nowhere is in its place; remove the link, or give another path"),
            (["keys", "rotate", "--new-key-file", workspace.path("existing.key")], [:], "already exists and rotation never overwrites a key file"),
            (["keys", "rotate", "--new-key-file", workspace.path("n1.key"), "--key-file", workspace.path("wrong.key")], [:], "is not the key this database was sealed with"),
            (["keys", "rotate", "--new-key-file", workspace.path("n2.key"), "--key-file", workspace.path("absent.key")], [:], "is missing"),
            (["keys", "rotate", "--new-key-file", workspace.path("n3.key"), "--db", workspace.path("absent.sqlite")], [:], "no enrollment database"),
        ]
        for (arguments, environment, message) in cases {
            let files = directorySnapshot(workspace.directory)
            let result = try workspace.enroll(arguments, environment: environment)
            #expect(result.status == 3, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
            #expect(directorySnapshot(workspace.directory) == files, "\(arguments) wrote something")
        }
    }

    @Test("keys rotate whose new key file's name the disk does not confirm (EIO on the directory's fsync, injected with strace) fails (exit 3), takes the new file back and leaves the old key in use")
    func rotateDirectorySyncFails() throws {
        let (workspace, _, _) = try Self.populated()
        let strace = try Processes.tool("strace", package: "strace")
        let before = try Self.journalDump(workspace)
        // The first fsync is the new key file's own, the second its directory's.
        let result = try Processes.run(
            strace, ["-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:error=EIO:when=2",
                     try Processes.product("enroll"), "keys", "rotate", "--new-key-file", workspace.path("new.key")],
            environment: ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile])
        #expect(result.status == 3, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains("its directory could not be synced") && result.stderr.contains("the disk reported an I/O error"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("new.key")))
        #expect(try Self.journalDump(workspace) == before)
        // The old key still opens every secret.
        let reveal = try workspace.enroll(["reveal", "bob", "--format", "uri"])
        #expect(reveal.status == 0, "\(reveal.stderr)")
    }

    @Test("export --output and import whose new file's name the disk does not confirm (EIO on the directory's fsync, injected with strace) fail with exit 3 saying so; import takes its database back")
    func outputDirectorySyncFails() throws {
        let (workspace, _, _) = try Self.populated()
        let strace = try Processes.tool("strace", package: "strace")
        let enroll = try Processes.product("enroll")
        let environment = ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]
        // export: the file's own fsync, then its directory's; import: SQLite syncs with
        // fdatasync, so the directory's is the only fsync.
        let exported = try Processes.run(
            strace, ["-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:error=EIO:when=2", enroll, "export", "--output", workspace.path("journal.jsonl")],
            environment: environment)
        #expect(exported.status == 3, "\(exported.stdout) \(exported.stderr)")
        #expect(exported.stderr.contains("was written, but its directory could not be synced (Input/output error), so it might not survive a power cut"), "\(exported.stderr)")
        #expect(!exported.stdout.contains("Exported"), "no success reported: \(exported.stdout)")
        let imported = try Processes.run(
            strace, ["-f", "-qq", "-o", "/dev/null", "-e", "trace=fsync", "-e", "inject=fsync:error=EIO:when=1", enroll, "import", workspace.path("journal.jsonl"), "--db", workspace.path("imported.sqlite")],
            environment: environment)
        #expect(imported.status == 3, "\(imported.stdout) \(imported.stderr)")
        #expect(imported.stderr.contains("could not be named \(workspace.path("imported.sqlite")) durably (its directory could not be synced: Input/output error); nothing was imported"), "\(imported.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("imported.sqlite")))
    }

    @Test("keys rotate on a database with no master key yet (imported, nothing sealed) says there is nothing to rotate (exit 1), not to restore a key file; nothing written")
    func rotateWithoutKey() throws {
        let (workspace, _, _) = try Self.populated()
        #expect(try workspace.enroll(["export", "--output", workspace.path("journal.jsonl")]).status == 0)
        let imported = workspace.path("imported.sqlite")
        #expect(try workspace.enroll(["import", workspace.path("journal.jsonl"), "--db", imported]).status == 0)
        let files = directorySnapshot(workspace.directory)
        let result = try workspace.enroll(["keys", "rotate", "--db", imported, "--key-file", workspace.path("absent.key"), "--new-key-file", workspace.path("new.key")])
        #expect(result.status == 1, "\(result.stderr)")
        #expect(result.stderr.contains("has no master key yet") && result.stderr.contains("nothing to rotate") && !result.stderr.contains("restore"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(directorySnapshot(workspace.directory) == files, "nothing written")
        // The key file at the path given exists, as ./enrollment.key beside a copy imported next
        // to the live database does: it is the live database's, not adopted by the copy and
        // never called one to destroy.
        let beside = try workspace.enroll(["keys", "rotate", "--db", imported, "--key-file", workspace.keyFile, "--new-key-file", workspace.path("new.key")])
        #expect(beside.status == 1, "\(beside.stdout) \(beside.stderr)")
        #expect(beside.stderr.contains("nothing to rotate; the key file \(workspace.keyFile) was left as it is (nothing in this database is sealed under it"), "\(beside.stderr)")
        #expect(!beside.stdout.contains("destroy") && !beside.stderr.contains("destroy"), "\(beside.stdout) \(beside.stderr)")
        #expect(directorySnapshot(workspace.directory) == files, "nothing written")
        let (asJSON, json) = try workspace.enrollJSON(["keys", "rotate", "--db", imported, "--key-file", workspace.keyFile, "--new-key-file", workspace.path("new.key")])
        #expect(asJSON.status == 1 && json["error"] as? String == "nothing_to_rotate", "with --json, the refusal on stdout too: \(asJSON.stdout)")
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri"]).status == 0, "the live database still opens with its key")
    }

    @Test("a missing, malformed or wrong key file: every command that needs the key exits 3 with one line and writes nothing",
          arguments: ["request dave", "confirm bob 123456", "reveal alice", "regenerate alice", "remove alice"])
    func keyFileProblems(_ command: String) throws {
        let (workspace, _, _) = try Self.populated()
        try Data((Data(repeating: 1, count: 31).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: workspace.path("short.key")))
        try Data("%%%\n".utf8).write(to: URL(fileURLWithPath: workspace.path("garbage.key")))
        try Data((Data(repeating: 2, count: 32).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: workspace.path("other.key")))
        for (key, message) in [("absent.key", "is missing"), ("short.key", "holds 31 bytes, not 32"), ("garbage.key", "is not base64"),
                               ("other.key", "is not the key this database was sealed with")] {
            let files = directorySnapshot(workspace.directory)
            let result = try workspace.enroll(command.split(separator: " ").map(String.init) + ["--key-file", workspace.path(key)])
            #expect(result.status == 3, "\(command) with \(key): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
            #expect(directorySnapshot(workspace.directory) == files, "\(command) with \(key) wrote something")
        }
    }

    @Test("a first secret that expired unconfirmed is still sealed under a live data key until remove forgets it; a second remove finds nothing (not_enrolled)")
    func removeForgetsAnExpiredFirstSecret() throws {
        let workspace = try Workspace()
        let now: Int64 = 1_764_400_000
        #expect(try workspace.enroll(["request", "alice"], environment: ["ENROLL_NOW": "\(now)"]).status == 0)
        #expect(try workspace.enroll(["request", "bob"], environment: ["ENROLL_NOW": "\(now)"]).status == 0)
        let late = ["ENROLL_NOW": "\(now + 700)"]
        // The expiry recorded first (a confirm), as most abandoned enrollments end.
        #expect(try workspace.enroll(["confirm", "alice", "123456"], environment: late).status == 1)
        #expect(try SQLite3.query(workspace.database, "SELECT stream_id FROM data_keys ORDER BY stream_id") == "alice\nbob")
        #expect(try workspace.enroll(["history", "alice"], environment: late).stdout.contains("secret sealed"))

        let removed = try workspace.enroll(["remove", "alice"], environment: late)
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stdout.contains("Removed the unconfirmed enrollment of alice"), "\(removed.stdout)")
        #expect(try SQLite3.query(workspace.database, "SELECT stream_id FROM data_keys") == "bob")
        let history = try workspace.enroll(["history", "alice"], environment: late)
        #expect(history.stdout.contains("secret forgotten") && !history.stdout.contains("secret sealed"), "\(history.stdout)")
        #expect(history.stdout.contains("enrollment removed before it was confirmed"), "\(history.stdout)")
        let again = try workspace.enrollJSON(["remove", "alice"], environment: late)
        #expect(again.0.status == 1 && again.1["error"] as? String == "not_enrolled", "\(again.1)")
        #expect(try workspace.enroll(["verify"], environment: late).status == 0)
        // Activity: the expired secret counts as abandoned once; forgetting it removes no authenticator.
        let activity = try workspace.enroll(["activity", "--json"], environment: late)
        let day = try #require(try JSONSerialization.jsonObject(with: Data(activity.stdout.utf8)) as? [String: Any], "\(activity.stdout)")
        #expect(day["abandoned"] as? Int == 1 && day["removed"] as? Int == 0, "\(day)")
        // bob's secret expired too, never recorded: remove records the expiry, then forgets it.
        #expect(try workspace.enroll(["remove", "bob"], environment: late).status == 0)
        #expect(try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM data_keys") == "0")
        let bob = try workspace.enroll(["history", "bob"], environment: late).stdout
        #expect(bob.contains("PendingSecretExpired") && bob.contains("AuthenticatorRemoved"), "\(bob)")
    }

    @Test("after remove, the sealed secret cannot be opened even with the master key: its data key is gone from every file; history, export and verify still work")
    func cryptoShredding() throws {
        let workspace = try Workspace()
        let (_, json) = try workspace.enrollJSON(["request", "alice"])
        #expect(try workspace.enroll(["request", "bob"]).status == 0)  // bob's key stays, on the same page
        let uri = try #require(json["otpauthURI"] as? String)
        let base32 = try #require(secretParameter(of: uri))
        let secret = try #require(Base32.decode(base32))
        let sealedText = try SQLite3.query(workspace.database, "SELECT json_extract(data, '$.sealedSecret') FROM events WHERE type = 'EnrollmentRequested' AND stream_id = 'alice'")
        let sealed = Array(try #require(Data(base64Encoded: sealedText)))
        let wrappedHex = try SQLite3.query(workspace.database, "SELECT hex(wrapped_key) FROM data_keys WHERE stream_id = 'alice'")
        let wrapped = try #require(Self.bytes(hex: wrappedHex))
        let master = try Self.masterKey(workspace.keyFile)

        // Positive control: with the master key and the wrapped data key, the secret opens.
        let dataKey = try AESGCM.open(wrapped, key: master, authenticating: Array("alice".utf8))
        #expect(try AESGCM.open(sealed, key: dataKey, authenticating: Array("secret:alice".utf8)) == secret)
        // The secret itself never sits in the files, in any form.
        for (name, bytes) in directorySnapshot(workspace.directory) where name.hasPrefix("enrollment.sqlite") {
            #expect(!Self.contains(bytes, secret), "\(name) holds the raw secret")
            #expect(!Self.contains(bytes, Array(base32.utf8)), "\(name) holds the base32 secret")
        }

        #expect(try workspace.enroll(["remove", "alice"]).status == 0)
        #expect(try SQLite3.query(workspace.database, "SELECT stream_id FROM data_keys") == "bob")
        // Not even SQLite's free pages or write-ahead log keep the wrapped data key.
        for (name, bytes) in directorySnapshot(workspace.directory) where name.hasPrefix("enrollment.sqlite") {
            #expect(!Self.contains(bytes, wrapped), "\(name) still holds the destroyed data key")
        }
        // The master key alone opens nothing.
        #expect(throws: (any Error).self) { try AESGCM.open(sealed, key: master, authenticating: Array("secret:alice".utf8)) }
        #expect(try SQLite3.query(workspace.database, "SELECT json_extract(data, '$.sealedSecret') FROM events WHERE type = 'EnrollmentRequested' AND stream_id = 'alice'") == sealedText,
                "the event itself is untouched")

        // The library reads the event back as forgotten; history, export and verify still work.
        let service = try EnrollmentService.open(databasePath: workspace.database, keyFilePath: workspace.keyFile)
        let events = try service.database.writer.read { db in try EventJournal.readStream("alice", in: db) }
        let decoded = try EventCodec.decode(type: events[0].type, schemaVersion: events[0].schemaVersion, data: events[0].data) { box in
            KeyRing.open(box, dataKey: nil, stream: "alice")
        }
        guard case .enrollmentRequested(let issued) = decoded else { Issue.record("unexpected \(decoded)"); return }
        #expect(issued.secret == .forgotten)
        let history = try workspace.enroll(["history", "alice"])
        #expect(history.status == 0)
        #expect(history.stdout.contains("secret forgotten"), "\(history.stdout)")
        let export = try workspace.enroll(["export"])
        #expect(export.status == 0)
        #expect(export.stdout.split(separator: "\n").count == 4, "three rows and the end line")
        #expect(try workspace.enroll(["verify"]).status == 0)
        #expect(try workspace.enroll(["reveal", "alice"]).status == 1)
    }

    @Test("a new database (and so its -wal and -shm) and its key file are readable by their owner only, whatever the umask; a world-readable JWT secret file is warned about")
    func newFilesOwnerOnly() throws {
        let workspace = try Workspace()
        let sh = try Processes.tool("sh", package: "dash")
        let created = try Processes.run(sh, ["-c", "umask 000; exec \"$0\" request alice --db \"$1\" --key-file \"$2\"", try Processes.product("enroll"), workspace.database, workspace.keyFile])
        #expect(created.status == 0, "\(created.stderr)")
        for path in [workspace.database, workspace.keyFile] {
            var status = stat()
            #expect(stat(path, &status) == 0 && status.st_mode & 0o777 == 0o600, "\(path): mode \(String(status.st_mode & 0o777, radix: 8))")
        }
        // The same through a link that leads to no file yet (the file it names is made), and in
        // an empty file made with the umask's mode; each says it created a new database.
        try FileManager.default.createSymbolicLink(atPath: workspace.path("link.sqlite"), withDestinationPath: "target.sqlite")
        try Data().write(to: URL(fileURLWithPath: workspace.path("empty.sqlite")))
        #expect(chmod(workspace.path("empty.sqlite"), 0o644) == 0)
        // Only taken away, never added: an empty read-only file stays read-only for its owner.
        try Data().write(to: URL(fileURLWithPath: workspace.path("read-only.sqlite")))
        #expect(chmod(workspace.path("read-only.sqlite"), 0o444) == 0)
        _ = try workspace.enroll(["request", "alice", "--db", workspace.path("read-only.sqlite"), "--key-file", workspace.path("ro.key")])
        var readOnly = stat()
        #expect(stat(workspace.path("read-only.sqlite"), &readOnly) == 0 && readOnly.st_mode & 0o777 == 0o400, "mode \(String(readOnly.st_mode & 0o777, radix: 8))")
        for (database, file) in [("link.sqlite", "target.sqlite"), ("empty.sqlite", "empty.sqlite")] {
            let result = try Processes.run(sh, ["-c", "umask 000; exec \"$0\" request alice --db \"$1\" --key-file \"$2\"", try Processes.product("enroll"), workspace.path(database), workspace.path(database + ".key")])
            #expect(result.status == 0 && result.stderr.contains("created a new enrollment database \(workspace.path(database))"), "\(database): \(result.stderr)")
            var status = stat()
            #expect(stat(workspace.path(file), &status) == 0 && status.st_mode & 0o777 == 0o600, "\(file): mode \(String(status.st_mode & 0o777, radix: 8))")
        }
        let secret = workspace.path("hs256.secret")
        try Data(String(repeating: "s", count: 40).utf8).write(to: URL(fileURLWithPath: secret))
        #expect(chmod(secret, 0o644) == 0)
        // The warning comes as the secret is read; a host that is no address then stops the start.
        let server = try Processes.run(try Processes.product("enroll-server"), ["serve", "--jwt-secret-file", secret, "--host", "256.0.0.1", "--db", workspace.database, "--key-file", workspace.keyFile])
        #expect(server.status == 2, "\(server.stderr)")
        #expect(server.stderr.contains("the JWT secret file \(secret) can be read or changed by other users (mode 644), and it signs a token for any user"), "\(server.stderr)")
    }

    @Test("a --db with `..` names the file SQLite opens (through a directory that does not exist, or back out of a link): created owner-only whatever the umask, read by every command, named as it is in messages")
    func dotDotDatabasePath() throws {
        let workspace = try Workspace()
        let sh = try Processes.tool("sh", package: "dash")
        let enroll = try Processes.product("enroll")
        // No `missing` directory: SQLite opens new.sqlite beside it, which the kernel's open of the
        // path as given cannot create (it was created by SQLite with the umask's mode, 0666 here).
        let throughMissing = workspace.directory.path + "/missing/../new.sqlite"
        let created = try Processes.run(sh, ["-c", "umask 000; exec \"$0\" request alice --db \"$1\" --key-file \"$2\"", enroll, throughMissing, workspace.keyFile])
        #expect(created.status == 0, "\(created.stderr)")
        var status = stat()
        #expect(stat(workspace.path("new.sqlite"), &status) == 0 && status.st_mode & 0o777 == 0o600, "mode \(String(status.st_mode & 0o777, radix: 8))")
        // Reading through the same path finds the database it wrote (it said there was none).
        let read = try workspace.enroll(["status", "alice", "--db", throughMissing])
        #expect(read.status == 0 && read.stdout.contains("status: pending"), "\(read.stderr)")
        // A message names the file, which `ls` can find, not the path through a missing directory.
        let absent = try workspace.enroll(["status", "alice", "--db", workspace.directory.path + "/missing/../absent.sqlite"])
        #expect(absent.status == 3 && absent.stderr.contains("no enrollment database at \(workspace.path("absent.sqlite"));"), "\(absent.stderr)")
        // `..` after a link goes back from where the link leads, as for the kernel.
        try FileManager.default.createDirectory(atPath: workspace.path("real/deep"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: workspace.path("link"), withDestinationPath: "real/deep")
        #expect(try workspace.enroll(["request", "bob", "--db", workspace.directory.path + "/link/../linked.sqlite"]).status == 0)
        #expect(try workspace.enroll(["status", "bob", "--db", workspace.path("real/linked.sqlite")]).stdout.contains("status: pending"))
    }

    @Test("a key file that cannot be created (a missing directory, a dangling link in its place) is refused before the new database is created: no file is left behind")
    func keyFileCreatedFirst() throws {
        let workspace = try Workspace()
        try FileManager.default.createSymbolicLink(atPath: workspace.path("dangling.key"), withDestinationPath: "/nonexistent/enroll.key")
        for (keyFile, reason) in [(workspace.path("nodir/k.key"), "No such file or directory"), (workspace.path("dangling.key"), "a symbolic link that leads nowhere")] {
            let result = try workspace.enroll(["request", "carol", "--db", workspace.path("new.sqlite"), "--key-file", keyFile])
            #expect(result.status == 3 && result.stderr.contains("cannot create the key file") && result.stderr.contains(reason), "\(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: workspace.path("new.sqlite")), "a database was left behind")
        }
    }

    @Test("a removal whose write-ahead log cannot be emptied (a reader holds it) still succeeds, and its notice names the reader as the cause and the user removed")
    func shreddingNoticeNamesCause() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        // sqlite3 holds a read transaction: its snapshot keeps the log alive.
        let reader = try SQLiteShellTransaction(workspace.database)
        defer { reader.end() }
        let removed = try workspace.enroll(["remove", "alice", "--busy-timeout", "1"])
        #expect(removed.status == 0, "\(removed.stderr)")
        #expect(removed.stderr.contains("the write-ahead log could not be emptied yet (another connection is reading the database)"), "\(removed.stderr)")
        #expect(removed.stderr.hasPrefix("enroll: note: ") && removed.stderr.contains("users: alice)"), "\(removed.stderr)")
    }

    @Test("a removal while a reader holds the log does not hold off other writers for the busy timeout: the checkpoint's tries never wait, and the command line gives up on them after 2 s")
    func shreddingDoesNotStallWriters() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let reader = try SQLiteShellTransaction(workspace.database)
        defer { reader.end() }
        // A TRUNCATE checkpoint that waited would hold the lock for the whole 30 s busy timeout.
        let enroll = try Processes.product("enroll")
        let removal = Mutex<Processes.Result?>(nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { [database = workspace.database, keyFile = workspace.keyFile] in
            let result = try? Processes.run(enroll, ["remove", "alice", "--db", database, "--key-file", keyFile, "--busy-timeout", "30"])
            removal.withLock { $0 = result }
            done.signal()
        }
        // Bob's request goes in once the removal has committed (alice's data key deleted) and
        // while it still tries its checkpoints, which the reader makes fail for 2 s.
        let deadline = Date().addingTimeInterval(20)
        while try SQLite3.query(workspace.database, "SELECT count(*) FROM data_keys WHERE stream_id = 'alice'") != "0" {
            try #require(Date() < deadline, "the removal never committed: alice's data key is still there after 20 s")
            usleep(10_000)
        }
        try #require(removal.withLock { $0 } == nil, "the removal ended before bob's request could overlap its checkpoint tries")
        let other = try workspace.enroll(["request", "bob", "--busy-timeout", "1"])
        #expect(other.status == 0, "a writer waited on the removal's checkpoint: \(other.stderr)")
        #expect(done.wait(timeout: .now() + 25) == .success, "the removal waited for the reader")
        let removed = try #require(removal.withLock { $0 })
        #expect(removed.status == 0 && removed.stderr.contains("could not be emptied yet"), "\(removed.status) \(removed.stderr)")
    }

    @Test("through the group-commit handler, a removal while a reader holds the log is answered at once; the checkpoint is tried again until the destroyed data key is gone from every file")
    func groupCommitShreddingRetried() async throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let wrapped = try #require(Self.bytes(hex: try SQLite3.query(workspace.database, "SELECT hex(wrapped_key) FROM data_keys WHERE stream_id = 'alice'")))
        let service = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, options: DatabaseOptions(busyTimeout: 30, concurrentReads: true))
        let handler = GroupCommitHandler(service: service)
        let reader = try SQLiteShellTransaction(workspace.database)
        let clock = ContinuousClock()
        _ = try await handler.handle(CommandEnvelope(user: "alice", command: .removeAuthenticator))
        // Another user's command goes on while the reader still holds the log.
        #expect(try await handler.handle(CommandEnvelope(user: "bob", command: .requestEnrollment(EnrollmentOptions()))).accepted)
        func keyLeft() -> [String] {
            directorySnapshot(workspace.directory).filter { $0.key.hasPrefix("enrollment.sqlite") && Self.contains($0.value, wrapped) }.map(\.key)
        }
        #expect(!keyLeft().isEmpty, "the reader should have kept the old page")
        reader.end()
        let deadline = clock.now + .seconds(20)
        while !keyLeft().isEmpty && clock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(keyLeft().isEmpty, "the destroyed data key is still in \(keyLeft())")
        // And the log is emptied (truncated to nothing), after which no retry is left to run.
        func walSize() -> Int { (try? FileManager.default.attributesOfItem(atPath: workspace.database + "-wal")[.size] as? Int) ?? 0 }
        while walSize() > 0 && clock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(walSize() == 0, "the write-ahead log was never emptied")
    }

    @Test("a removal by the command line while a reader holds the log, with `enroll serve` running on the database: the command line gives up on its checkpoint, and the server empties the files of the destroyed data key once the reader is done, not only when it stops")
    func serverEmptiesTheLogForAnotherProcessRemoval() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let wrapped = try #require(Self.bytes(hex: try SQLite3.query(workspace.database, "SELECT hex(wrapped_key) FROM data_keys WHERE stream_id = 'alice'")))
        let server = try ServeProcessTests.Server(workspace)
        defer { _ = server.stop() }
        let reader = try SQLiteShellTransaction(workspace.database)
        let removed = try workspace.enroll(["remove", "alice"])
        #expect(removed.status == 0 && removed.stderr.contains("could not be emptied yet") && removed.stderr.contains("for removals made elsewhere too"), "\(removed.stderr)")
        func keyLeft() -> [String] {
            directorySnapshot(workspace.directory).filter { $0.key.hasPrefix("enrollment.sqlite") && Self.contains($0.value, wrapped) }.map(\.key)
        }
        #expect(!keyLeft().isEmpty, "the reader should have kept the old page")
        reader.end()
        let deadline = Date().addingTimeInterval(20)
        while !keyLeft().isEmpty && Date() < deadline { usleep(200_000) }
        #expect(keyLeft().isEmpty, "the destroyed data key is still in \(keyLeft()) while the server runs")
    }

    @Test("crypto-shredding still holds on a connection that rebuilt the projections (their old tables are dropped without zeroing, the data keys never)")
    func shreddingAfterRebuild() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        #expect(try workspace.enroll(["request", "bob"]).status == 0)
        let wrappedHex = try SQLite3.query(workspace.database, "SELECT hex(wrapped_key) FROM data_keys WHERE stream_id = 'alice'")
        let wrapped = try #require(Self.bytes(hex: wrappedHex))

        let service = try EnrollmentService.open(databasePath: workspace.database, keyFilePath: workspace.keyFile)
        for projection in Projections.all {
            let rebuilder = ProjectionRebuilder(database: service.database)
            _ = try rebuilder.rebuild(projection)
        }
        _ = try service.handle(CommandEnvelope(user: "alice", command: .removeAuthenticator))
        try service.database.writer.close()

        #expect(try SQLite3.query(workspace.database, "SELECT stream_id FROM data_keys") == "bob")
        for (name, bytes) in directorySnapshot(workspace.directory) where name.hasPrefix("enrollment.sqlite") {
            #expect(!Self.contains(bytes, wrapped), "\(name) still holds the destroyed data key")
        }
    }

    static func bytes(hex: String) -> [UInt8]? {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2, limitedBy: hex.endIndex) ?? hex.endIndex
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        return bytes.isEmpty ? nil : bytes
    }

    static func contains(_ haystack: Data, _ needle: [UInt8]) -> Bool {
        haystack.range(of: Data(needle)) != nil
    }
}
