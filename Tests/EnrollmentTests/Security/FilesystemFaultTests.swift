import Foundation
import Testing
import TestSupport

/// A read-only database file or directory and a full disk, made real with a small tmpfs in a
/// private mount namespace (`unshare`), so that even root (which ignores file modes) cannot
/// write. Each scenario runs as a bash script inside the namespace and leaves its results in a
/// host directory: exit codes, stderr, and copies of the database before and after.
@Suite("read-only and full disks", .serialized)
struct FilesystemFaultTests {
    /// How to get a mount namespace here: as an unprivileged user namespace, or as root.
    static func namespaceCommand() throws -> [String] {
        let unshare = try Processes.tool("unshare", package: "util-linux")
        for candidate in [[unshare, "--user", "--map-root-user", "--mount"], [unshare, "--mount"]] {
            if let probe = try? Processes.run(candidate[0], Array(candidate.dropFirst()) + ["true"]), probe.status == 0 { return candidate }
        }
        Issue.record("""
            cannot create a mount namespace (`unshare --user --map-root-user --mount true` and `unshare --mount true` both failed): \
            these tests need unprivileged user namespaces or root with CAP_SYS_ADMIN to mount a small tmpfs; \
            they do not pass silently without one
            """)
        throw CancellationError()
    }

    /// The scenario's files, removed when the test is done with them.
    final class Outcome {
        let directory: URL
        init(directory: URL) { self.directory = directory }
        deinit { try? FileManager.default.removeItem(at: directory) }
        func text(_ name: String) -> String {
            ((try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)) ?? "").trimmingCharacters(in: .newlines)
        }
        func bytes(_ name: String) -> Data? { FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) }
        func status(_ name: String) -> Int32? { Int32(text(name + ".status")) }
    }

    /// Runs `body` (bash) inside a fresh namespace with a tmpfs of `size` at $MNT, where alice has a
    /// pending secret. `run NAME ARGS…` runs enroll, keeping NAME.status and NAME.stderr;
    /// `snap NAME` copies the database files to NAME.db (and NAME.wal if there is one).
    static func scenario(size: String, _ body: String) throws -> Outcome {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("fsfault-\(UUID().uuidString)")
        let mountPoint = out.appendingPathComponent("mnt")
        let outcome = Outcome(directory: out)
        try FileManager.default.createDirectory(at: mountPoint, withIntermediateDirectories: true)
        let script = """
            set -u
            export MNT="$1" OUT="$2" ENROLL="$3"
            export ENROLL_DB="$MNT/enrollment.sqlite" ENROLL_KEY_FILE="$MNT/enrollment.key" ENROLL_NOW=1764421576
            mount -t tmpfs -o size=\(size) tmpfs "$MNT" || { echo "mount failed" > "$OUT/setup.error"; exit 1; }
            run() { local name=$1; shift; "$ENROLL" "$@" > /dev/null 2> "$OUT/$name.stderr"; echo $? > "$OUT/$name.status"; }
            snap() { cp "$ENROLL_DB" "$OUT/$1.db"; [ -e "$ENROLL_DB-wal" ] && cp "$ENROLL_DB-wal" "$OUT/$1.wal"; true; }
            cd "$MNT"
            run setup request alice
            \(body)
            """
        let scriptPath = out.appendingPathComponent("scenario.sh").path
        try Data(script.utf8).write(to: URL(fileURLWithPath: scriptPath))
        let namespace = try namespaceCommand()
        let result = try Processes.run(namespace[0], Array(namespace.dropFirst()) + [
            try Processes.tool("bash", package: "bash"), scriptPath, mountPoint.path, out.path, try Processes.product("enroll"),
        ])
        #expect(result.status == 0, "scenario failed: \(result.stderr) \(outcome.text("setup.error"))")
        #expect(outcome.status("setup") == 0, "setup: \(outcome.text("setup.stderr"))")
        return outcome
    }

    func expectRefused(_ outcome: Outcome, _ name: String, message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(outcome.status(name) == 3, "\(name): \(outcome.text(name + ".stderr"))", sourceLocation: sourceLocation)
        let stderr = outcome.text(name + ".stderr")
        #expect(stderr.contains(message), "\(name): \(stderr)", sourceLocation: sourceLocation)
        #expect(stderr.split(separator: "\n").count == 1, "\(name): \(stderr)", sourceLocation: sourceLocation)
    }

    @Test("a read-only directory: writes exit 3 naming the read-only location, the database is byte for byte unchanged, no new database appears")
    func readOnlyDirectory() throws {
        let outcome = try Self.scenario(size: "4m", """
            snap before
            mount -o remount,ro "$MNT" || echo "remount failed" > "$OUT/setup.error"
            run request request bob
            run confirm confirm alice 000000
            run new request carol --db "$MNT/new.sqlite"
            [ -e "$MNT/new.sqlite" ] && echo yes > "$OUT/new.exists"
            run status status alice
            run verify verify
            run history history alice
            run audit audit
            snap after
            """)
        #expect(outcome.text("setup.error").isEmpty, "\(outcome.text("setup.error"))")
        for name in ["request", "confirm", "new"] {
            expectRefused(outcome, name, message: "(read-only file or directory); make it and its directory writable")
        }
        #expect(outcome.text("new.exists").isEmpty, "a database was created in a read-only directory")
        // A read-only file system (a backup on read-only media) is read as it is: no -shm needed.
        for name in ["status", "verify", "history", "audit"] {
            #expect(outcome.status(name) == 0, "\(name): \(outcome.text(name + ".stderr"))")
        }
        #expect(outcome.bytes("before.db") != nil)
        #expect(outcome.bytes("after.db") == outcome.bytes("before.db"))
    }

    @Test("keys history of a database older than the key history, on read-only media where it cannot be upgraded, names the key in force (not 'no master key yet'), in text and JSON")
    func keyHistoryOnReadOnlyMedia() throws {
        let outcome = try Self.scenario(size: "4m", """
            sqlite3 "$ENROLL_DB" "DROP TABLE key_history; DELETE FROM grdb_migrations WHERE identifier = 'v4-key-history';" || echo "downgrade failed" > "$OUT/setup.error"
            mount -o remount,ro "$MNT" || echo "remount failed" > "$OUT/setup.error"
            "$ENROLL" keys history > "$OUT/keys.out" 2> "$OUT/keys.stderr"; echo $? > "$OUT/keys.status"
            "$ENROLL" keys history --json > "$OUT/json.out" 2> "$OUT/json.stderr"; echo $? > "$OUT/json.status"
            """)
        #expect(outcome.text("setup.error").isEmpty, "\(outcome.text("setup.error"))")
        #expect(outcome.status("keys") == 0 && outcome.text("keys.out").hasPrefix("(before the key history)  in force at the upgrade  key "), "\(outcome.text("keys.out")) \(outcome.text("keys.stderr"))")
        #expect(outcome.status("json") == 0 && outcome.text("json.out").hasPrefix(#"{"action":"found","keyId":""#), "\(outcome.text("json.out")) \(outcome.text("json.stderr"))")
    }

    @Test("a copy with a write-ahead log of committed transactions but no -shm, on read-only media: reading is refused naming why and what to do, never read without the log")
    func readOnlyCopyWithLog() throws {
        let outcome = try Self.scenario(size: "4m", """
            # Copied while a writer's connection still holds its log: a backup taken mid-flight.
            sqlite3 "$ENROLL_DB" "PRAGMA wal_autocheckpoint = 0;" "CREATE TABLE scratch(x); DROP TABLE scratch;" \
                ".shell mkdir '$MNT/copy' && cp '$ENROLL_DB' '$ENROLL_DB-wal' '$MNT/copy/'" > /dev/null
            [ -s "$MNT/copy/enrollment.sqlite-wal" ] || echo "no log in the copy" > "$OUT/setup.error"
            mount -o remount,ro "$MNT" || echo "remount failed" > "$OUT/setup.error"
            run history history alice --db "$MNT/copy/enrollment.sqlite"
            run status status alice --db "$MNT/copy/enrollment.sqlite"
            """)
        #expect(outcome.text("setup.error").isEmpty, "\(outcome.text("setup.error"))")
        for name in ["history", "status"] {
            expectRefused(outcome, name, message: "-wal beside it holds committed transactions, and reading them needs SQLite to create")
            #expect(outcome.text(name + ".stderr").contains("copy"), "\(outcome.text(name + ".stderr"))")
        }
    }

    @Test("a read-only database file (read-only bind mount): writes exit 3, the file is unchanged")
    func readOnlyFile() throws {
        let outcome = try Self.scenario(size: "4m", """
            snap before
            { mount --bind "$ENROLL_DB" "$ENROLL_DB" && mount -o remount,bind,ro "$ENROLL_DB"; } || echo "bind failed" > "$OUT/setup.error"
            run request request bob
            run remove remove alice
            snap after
            """)
        #expect(outcome.text("setup.error").isEmpty, "\(outcome.text("setup.error"))")
        expectRefused(outcome, "request", message: "read-only file or directory")
        expectRefused(outcome, "remove", message: "read-only file or directory")
        #expect(outcome.bytes("after.db") == outcome.bytes("before.db"))
    }

    @Test("a read while the database file was read-only leaves its -wal and -shm read-only (SQLite copies the file's mode); once the owner makes the file writable again, the next command writes (those files get the database's mode back) rather than being refused")
    func readOnlySideFilesOfAReadAreMended() throws {
        guard getuid() == 0 else { return }  // needs another account that owns the files: root runs it as nobody
        let setpriv = try Processes.tool("setpriv", package: "util-linux")
        let enroll = try Processes.product("enroll")
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        chmod(workspace.directory.path, 0o777)
        for file in [workspace.database, workspace.keyFile] { chown(file, 65534, 65534) }
        let asNobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--", enroll]
        let environment = ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]
        chmod(workspace.database, 0o400)
        let read = try Processes.run(asNobody[0], Array(asNobody.dropFirst()) + ["status", "alice"], environment: environment)
        guard read.status == 0 else {
            Issue.record("user nobody cannot run \(enroll) (\(read.stderr)); make the build directory world-readable to run this test")
            return
        }
        var shm = stat()
        #expect(stat(workspace.database + "-shm", &shm) == 0 && shm.st_mode & 0o777 == 0o400, "the read left a read-only -shm: \(String(shm.st_mode & 0o777, radix: 8))")
        chmod(workspace.database, 0o600)
        let write = try Processes.run(asNobody[0], Array(asNobody.dropFirst()) + ["request", "bob"], environment: environment)
        #expect(write.status == 0, "\(write.stderr)")
        #expect(try workspace.enroll(["status", "bob"]).stdout.contains("status: pending"))
    }

    @Test("an empty file of another account's (planted in a shared directory) is not made the new database, which that account could read and replace: exit 3 database_not_owned, the file left empty; this account's own empty file is")
    func emptyFileOfAnotherAccount() throws {
        guard getuid() == 0 else { return }  // Needs a file another account owns: root gives it to nobody.
        let workspace = try Workspace()
        let planted = workspace.path("planted.sqlite")
        #expect(FileManager.default.createFile(atPath: planted, contents: nil, attributes: [.posixPermissions: 0o666]))
        #expect(chown(planted, 65534, 65534) == 0)
        let refused = try workspace.enroll(["request", "alice", "--db", planted])
        #expect(refused.status == 3 && refused.stderr.contains("is an empty file that belongs to another account"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        let (result, json) = try workspace.enrollJSON(["request", "alice", "--db", planted])
        #expect(result.status == 3 && json["error"] as? String == "database_not_owned", "\(json)")
        let size = (try FileManager.default.attributesOfItem(atPath: planted)[.size] as? NSNumber)?.intValue
        #expect(size == 0, "the planted file is left as it was")
        #expect(chown(planted, 0, 0) == 0)
        #expect(try workspace.enroll(["request", "alice", "--db", planted]).status == 0, "this account's own empty file becomes the database")
    }

    @Test("a directory the user may not write (enroll run as nobody via setpriv; no mount needed): exit 3, nothing written")
    func directoryNotWritableForTheUser() throws {
        guard getuid() == 0 else {
            // Not root: the test runner itself cannot write a 0555 directory either.
            let workspace = try Workspace()
            #expect(try workspace.enroll(["request", "alice"]).status == 0)
            chmod(workspace.directory.path, 0o555)
            defer { chmod(workspace.directory.path, 0o755) }
            let before = directorySnapshot(workspace.directory)
            let result = try workspace.enroll(["request", "bob"])
            #expect(result.status == 3 && result.stderr.contains("may not create files in \(workspace.directory.path)"), "\(result.stderr)")
            #expect(directorySnapshot(workspace.directory) == before)
            return
        }
        let setpriv = try Processes.tool("setpriv", package: "util-linux")
        let enroll = try Processes.product("enroll")
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        // nobody may read the database and the key (both are the owner's only when created), not write anything
        chmod(workspace.keyFile, 0o644)
        chmod(workspace.database, 0o644)
        let before = directorySnapshot(workspace.directory)
        let asNobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
        let probe = try Processes.run(asNobody[0], Array(asNobody.dropFirst()) + [enroll, "--help"])
        guard probe.status == 0 else {
            Issue.record("user nobody cannot run \(enroll) (\(probe.stderr)); make the build directory world-readable to run this test")
            return
        }
        // Reading needs the -shm made beside the database as much as writing does: the message
        // says so, and how to read anyway (a copy), rather than "cannot write" to a reader.
        let reads = [["status", "alice"], ["audit"], ["history", "alice"], ["activity"], ["verify"], ["export"]]
        for arguments in [["request", "bob"], ["confirm", "alice", "123456"], ["remove", "alice"]] + reads {
            let result = try Processes.run(asNobody[0], Array(asNobody.dropFirst()) + [enroll] + arguments, environment: [
                "ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile,
            ])
            #expect(result.status == 3, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("may not create files in \(workspace.directory.path), and SQLite must create"), "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("copy \(workspace.database) to a directory you can write"), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("cannot write to"), "\(arguments): \(result.stderr)")
        }
        // The same database where this account may make files: every read answers.
        let copy = try Workspace()
        chmod(copy.directory.path, 0o777)
        try? FileManager.default.removeItem(atPath: copy.database)
        try FileManager.default.copyItem(atPath: workspace.database, toPath: copy.database)
        chmod(copy.database, 0o644)
        for arguments in reads {
            let result = try Processes.run(asNobody[0], Array(asNobody.dropFirst()) + [enroll] + arguments, environment: [
                "ENROLL_DB": copy.database, "ENROLL_KEY_FILE": workspace.keyFile,
            ])
            #expect(result.status == 0, "\(arguments) on the copy: \(result.stderr)")
        }
        #expect(directorySnapshot(workspace.directory) == before)
    }

    @Test("a read as another account, while nothing else had the database open, leaves its -wal and -shm, which the owner's account may not write: the owner's write names them, their owner and the remedy, not the writable database")
    func sideFilesOfAnotherAccount() throws {
        guard getuid() == 0 else { return }  // Needs two accounts other than the runner's.
        let setpriv = try Processes.tool("setpriv", package: "util-linux")
        let enroll = try Processes.product("enroll")
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        // The service account is daemon (uid 1); nobody may read the database, as a group member would.
        chmod(workspace.directory.path, 0o777)
        chown(workspace.database, 1, 1)
        chown(workspace.keyFile, 1, 1)
        chmod(workspace.database, 0o644)
        chmod(workspace.keyFile, 0o644)
        let environment = ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]
        func run(as uid: Int, _ arguments: [String]) throws -> Processes.Result {
            try Processes.run(setpriv, ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--", enroll] + arguments, environment: environment)
        }
        let probe = try run(as: 65534, ["--help"])
        guard probe.status == 0 else {
            Issue.record("user nobody cannot run \(enroll) (\(probe.stderr)); make the build directory world-readable to run this test")
            return
        }
        // Counted first: a root connection closing removes the log and shared memory, as the owner's would.
        let before = try FixtureTests.eventCount(workspace.database)
        let read = try run(as: 65534, ["audit", "--limit", "1"])
        #expect(read.status == 0, "\(read.stderr)")
        let wal = workspace.database + "-wal", shm = workspace.database + "-shm"
        var info = stat()
        #expect(stat(wal, &info) == 0 && info.st_uid == 65534, "the read left the log, owned by nobody")
        let refused = try run(as: 1, ["request", "bob"])
        #expect(refused.status == 3, "\(refused.stderr)")
        #expect(refused.stderr.contains("cannot write to \(workspace.database): \(wal) and \(shm) beside it belong to nobody"), "\(refused.stderr)")
        #expect(refused.stderr.contains("give them to this account (chown)"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("make it and its directory writable"), "\(refused.stderr)")
        // The remedy it gives works.
        chown(wal, 1, 1)
        chown(shm, 1, 1)
        let written = try run(as: 1, ["request", "bob"])
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try FixtureTests.eventCount(workspace.database) == before + 1, "the refused request wrote nothing, the second one its event")
    }

    @Test("a --key-file far larger than a key (a backup or a disk image given by mistake) is refused at once as key_file_malformed naming its size, not read whole first; exit 3, nothing written")
    func keyFileFarTooLarge() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let large = workspace.path("backup.tar")
        #expect(FileManager.default.createFile(atPath: large, contents: Data(repeating: 0x41, count: 8_000_000), attributes: [.posixPermissions: 0o600]))
        let before = workspace.databaseBytes()
        for arguments in [["reveal", "alice", "--format", "uri"], ["request", "bob"], ["confirm", "alice", "123456"]] {
            let result = try workspace.enroll(arguments + ["--key-file", large, "--json"])
            #expect(result.status == 3, "\(arguments): \(result.stderr)")
            let error = (try? JSONSerialization.jsonObject(with: result.stdoutData)) as? [String: Any] ?? [:]
            #expect(error["error"] as? String == "key_file_malformed", "\(arguments): \(result.stdout)")
            #expect((error["message"] as? String)?.contains("it holds 8000000 bytes, far more than a key's line of base64") == true, "\(arguments): \(result.stdout)")
        }
        #expect(workspace.databaseBytes() == before)
    }

    @Test("a key file this account may not read (its mode, as after a service account change) is key_file_unreadable naming the owner and mode, not key_file_malformed (whose remedy, another file, would be wrong); exit 3, nothing written")
    func keyFileNotReadableForTheUser() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        chmod(workspace.database, 0o666)
        chmod(workspace.directory.path, 0o777)
        chmod(workspace.keyFile, 0o600)
        var command = [try Processes.product("enroll")]
        if getuid() == 0 {
            // Root reads any file: the command runs as nobody (setpriv), the key file stays root's.
            command = [try Processes.tool("setpriv", package: "util-linux"), "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + command
            let probe = try Processes.run(command[0], Array(command.dropFirst()) + ["--help"])
            guard probe.status == 0 else {
                Issue.record("user nobody cannot run enroll (\(probe.stderr)); make the build directory world-readable to run this test")
                return
            }
        } else {
            chmod(workspace.keyFile, 0o000)
        }
        defer { chmod(workspace.keyFile, 0o600) }
        let before = workspace.databaseBytes()
        let result = try Processes.run(command[0], Array(command.dropFirst()) + ["reveal", "alice", "--format", "uri", "--json"], environment: [
            "ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile,
        ])
        #expect(result.status == 3, "\(result.stderr)")
        let error = (try? JSONSerialization.jsonObject(with: result.stdoutData)) as? [String: Any] ?? [:]
        #expect(error["error"] as? String == "key_file_unreadable", "\(result.stdout) \(result.stderr)")
        let message = error["message"] as? String ?? ""
        #expect(message.contains("Permission denied") && message.contains("chmod 600") && !message.contains("restore"), "\(message)")
        #expect(workspace.databaseBytes() == before)

        // A key file behind a directory this account may not search: not "missing" either.
        guard getuid() == 0 else { return }
        let hidden = workspace.path("private")
        try FileManager.default.createDirectory(atPath: hidden, withIntermediateDirectories: false)
        let hiddenKey = hidden + "/enrollment.key"
        try FileManager.default.copyItem(atPath: workspace.keyFile, toPath: hiddenKey)
        chmod(hiddenKey, 0o644)
        chmod(hidden, 0o700)
        let behind = try Processes.run(command[0], Array(command.dropFirst()) + ["reveal", "alice", "--format", "uri", "--json"], environment: [
            "ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": hiddenKey,
        ])
        let behindError = (try? JSONSerialization.jsonObject(with: behind.stdoutData)) as? [String: Any] ?? [:]
        #expect(behind.status == 3 && behindError["error"] as? String == "key_file_unreadable", "\(behind.stdout) \(behind.stderr)")
        #expect(workspace.databaseBytes() == before)
    }

    @Test("a --db where no file can be made, on a file system with no blocks at all (/proc, /sys): exit 3 saying it cannot be created there, not that the disk is full")
    func pseudoFileSystem() throws {
        let enroll = try Processes.product("enroll")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pseudo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for path in ["/proc/enroll-test.sqlite", "/sys/enroll-test.sqlite"] {
            for json in [false, true] {
                let result = try Processes.run(enroll, ["request", "bob", "--db", path] + (json ? ["--json"] : []), environment: ["ENROLL_KEY_FILE": directory.appendingPathComponent("k").path], directory: directory)
                #expect(result.status == 3, "\(path): \(result.stderr)")
                #expect(result.stderr.contains("cannot create \(path)") && !result.stderr.contains("full"), "\(path): \(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            }
        }
    }

    @Test("a full disk: every write exits 3 saying the disk is full, the journal is unchanged, and after space is freed the engine works")
    func fullDisk() throws {
        let outcome = try Self.scenario(size: "1m", """
            dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null
            snap before
            run request request bob
            run confirm confirm alice 000000
            run reveal reveal alice --format uri
            snap after
            rm "$MNT/fill"
            run recovered request bob
            snap recovered
            """)
        for name in ["request", "confirm", "reveal"] {
            expectRefused(outcome, name, message: "is full; free some space and run the command again")
        }
        #expect(outcome.bytes("after.db") == outcome.bytes("before.db"))
        #expect(outcome.status("recovered") == 0, "\(outcome.text("recovered.stderr"))")
        let recovered = outcome.directory.appendingPathComponent("recovered.db").path
        #expect(try SQLite3.eventTypes(recovered) == ["EnrollmentRequested", "EnrollmentRequested"])
        try JournalIntegrity.check(recovered)
    }

    @Test("a full disk: the commands that only read still answer (status, history, audit, verify, activity, export to another disk), the journal unchanged, and a write is still refused as a full disk")
    func readingOnFullDisk() throws {
        let outcome = try Self.scenario(size: "1m", """
            dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null
            snap before
            read() { local name=$1; shift; "$ENROLL" "$@" > "$OUT/$name.out" 2> "$OUT/$name.stderr"; echo $? > "$OUT/$name.status"; }
            read status status alice
            read json status alice --json
            read history history alice
            read audit audit
            read verify verify
            read activity activity
            read export export --output "$OUT/export.jsonl"
            run request request bob
            snap after
            """)
        for (name, shows) in [
            ("status", "status: pending"), ("json", #""status":"pending""#), ("history", "EnrollmentRequested"),
            ("audit", "EnrollmentRequested"), ("verify", "the hash chain is intact"), ("activity", "REQUESTED"),
            ("export", "Exported 1 event"),
        ] {
            #expect(outcome.status(name) == 0, "\(name): \(outcome.text(name + ".stderr"))")
            #expect(outcome.text(name + ".out").contains(shows), "\(name): \(outcome.text(name + ".out"))")
        }
        #expect(outcome.text("export.jsonl").split(separator: "\n").count == 2, "\(outcome.text("export.jsonl"))")
        expectRefused(outcome, "request", message: "is full; free some space and run the command again")
        #expect(outcome.bytes("after.db") == outcome.bytes("before.db"))
    }

    @Test("a full disk under a running server: /health answers 503 disk_full while every action fails with 503 disk_full and Retry-After (a client may retry: nothing was recorded), and 200 again once space is freed (no restart)")
    func healthOnFullDisk() throws {
        let token = try ServeProcessTests.token("alice")
        let outcome = try Self.scenario(size: "2m", """
            ENROLL_JWT_SECRET='\(ServeProcessTests.secret)' "$ENROLL" serve --port 0 > "$OUT/serve.out" 2> "$OUT/serve.err" &
            server=$!
            port=""
            for _ in $(seq 300); do
              port=$(sed -nE 's#.*http://127\\.0\\.0\\.1:([0-9]+).*#\\1#p' "$OUT/serve.out" | head -1)
              [ -n "$port" ] && break
              sleep 0.1
            done
            health() { curl -s -o "$OUT/$1.body" -w '%{http_code}' "http://127.0.0.1:$port/health" > "$OUT/$1.code"; }
            health ready
            dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null
            health full
            curl -s -D "$OUT/init.head" -o "$OUT/init.body" -w '%{http_code}' -H 'Authorization: Bearer \(token)' -H 'Content-Type: application/json' -d '{"action":"INIT"}' "http://127.0.0.1:$port/api/users/v1/me/totp" > "$OUT/init.code"
            rm "$MNT/fill"
            health freed
            curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer \(token)' -H 'Content-Type: application/json' -d '{"action":"INIT"}' "http://127.0.0.1:$port/api/users/v1/me/totp" > "$OUT/retried.code"
            kill $server; wait $server
            """)
        #expect(outcome.text("ready.code") == "200", "\(outcome.text("serve.err"))")
        #expect(outcome.text("full.code") == "503", "\(outcome.text("full.body"))")
        #expect(outcome.text("full.body").contains(#""code":"disk_full""#), "\(outcome.text("full.body"))")
        // A probe made no request: its answer says what a full disk means, not "this request".
        #expect(outcome.text("full.body").contains("nothing is recorded while its disk is full") && !outcome.text("full.body").contains("this request"), "\(outcome.text("full.body"))")
        #expect(outcome.text("freed.code") == "200", "\(outcome.text("freed.body"))")
        #expect(outcome.text("init.code") == "503", "\(outcome.text("init.body"))")
        #expect(outcome.text("init.body").contains(#""code":"disk_full""#), "\(outcome.text("init.body"))")
        #expect(outcome.text("init.head").lowercased().contains("retry-after: 60"), "\(outcome.text("init.head"))")
        #expect(outcome.text("retried.code") == "200", "\(outcome.text("serve.err"))")
    }

    @Test("a disk that fills up during the commit (room to open, not to write): exit 3, disk full, the journal unchanged", arguments: [24, 40, 56])
    func diskFillsDuringCommit(_ freeKilobytes: Int) throws {
        let outcome = try Self.scenario(size: "1m", """
            dd if=/dev/zero of="$MNT/fill" bs=4k 2>/dev/null
            truncate -s -\(freeKilobytes)K "$MNT/fill"
            snap before
            run request request bob
            snap after
            """)
        expectRefused(outcome, "request", message: "is full; free some space and run the command again")
        #expect(outcome.bytes("after.db") == outcome.bytes("before.db"))
        let after = outcome.directory.appendingPathComponent("after.db").path
        #expect(try SQLite3.eventTypes(after) == ["EnrollmentRequested"])
    }

    @Test("reveal --output onto a disk with no room for the image, the database's disk having room: exit 3 naming the full disk, no reveal recorded, nothing left there", arguments: ["png", "svg", "terminal"])
    func revealOntoAFullDisk(_ format: String) throws {
        let outcome = try Self.scenario(size: "4m", """
            mkdir "$MNT/full" && mount -t tmpfs -o size=64k tmpfs "$MNT/full" || echo "mount failed" > "$OUT/setup.error"
            dd if=/dev/zero of="$MNT/full/fill" bs=4k 2>/dev/null
            run reveal reveal alice --format \(format) --output "$MNT/full/qr"
            ls "$MNT/full" > "$OUT/files"
            "$ENROLL" history alice --json > "$OUT/history"
            """)
        expectRefused(outcome, "reveal", message: "full/qr (No space left on device); make room or pass --output with a writable path")
        #expect(outcome.text("files") == "fill", "\(outcome.text("files"))")
        #expect(outcome.text("history").contains("EnrollmentRequested") && !outcome.text("history").contains("QRCodeRevealed"), "\(outcome.text("history"))")
    }

    @Test("an import onto a disk with room for less than its database and log: exit 3, disk full, saying how much room an import of that file needs, and nothing left behind")
    func importOntoAFullDisk() throws {
        let traffic = RebuildTests.trafficJournal
        let size = try #require(try FileManager.default.attributesOfItem(atPath: traffic)[.size] as? Int)
        let outcome = try Self.scenario(size: "4m", """
            run import import "\(traffic)" --db "$MNT/new.sqlite"
            ls "$MNT" > "$OUT/files"
            """)
        expectRefused(outcome, "import", message: "is full; free some space and run the command again (nothing was written); an import needs up to about twice the file's size free while it runs (\((2 * size + 999_999) / 1_000_000) MB for \(traffic))")
        #expect(outcome.text("files") == "enrollment.key\nenrollment.sqlite", "\(outcome.text("files"))")
    }

    @Test("under a file size limit (ulimit -f, systemd's LimitFSIZE=) a write past it is refused in one line with exit 3, not ended by SIGXFSZ, and leaves no file half written: export, import, rebuild-projections")
    func fileSizeLimit() throws {
        let workspace = try Workspace()
        let imported = try workspace.enroll(["import", RebuildTests.trafficJournal])
        try #require(imported.status == 0, "\(imported.stderr)")
        let out = try Self.scratchOutput()
        defer { try? FileManager.default.removeItem(at: out) }
        // 1 000 blocks of 1 KiB: less than the export or the imported database.
        // Each command with SIGXFSZ at its default action, as a shell or service manager starts
        // it (the test runner may have it ignored, which children inherit).
        let script = """
            ulimit -f 1000
            run() { env --default-signal=XFSZ "$@"; }
            run "$1" export --output "$2/out.jsonl" 2> "$2/export.stderr"; echo $? > "$2/export.status"
            run "$1" import "$3" --db "$2/imp.sqlite" --key-file "$2/imp.key" 2> "$2/import.stderr"; echo $? > "$2/import.status"
            # 20 KiB: a rebuilt table's pages in the write-ahead log pass it.
            (ulimit -f 20; run "$4" --db "$ENROLL_DB" --projection authenticators --batch-size 1000000 2> "$2/rebuild.stderr" > /dev/null; echo $? > "$2/rebuild.status")
            ls "$2" > "$2/files"
            """
        let result = try Processes.run(
            try Processes.tool("bash", package: "bash"),
            ["-c", script, "bash", try Processes.product("enroll"), out.path, RebuildTests.trafficJournal, try Processes.product("rebuild-projections")],
            environment: ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile])
        #expect(result.status == 0, "\(result.stderr)")
        let outcome = Outcome(directory: out)
        for (name, says) in [("export", "(File too large)"), ("import", "file size limit"), ("rebuild", "file size limit")] {
            let stderr = outcome.text(name + ".stderr")
            #expect(outcome.status(name) == 3 && stderr.contains(says) && stderr.split(separator: "\n").count == 1, "\(name): \(outcome.status(name) ?? -1) \(stderr)")
        }
        #expect(!outcome.text("files").contains("out.jsonl") && !outcome.text("files").contains("imp.sqlite"), "\(outcome.text("files"))")
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    /// A new directory for a test's own outputs, outside any namespace.
    static func scratchOutput() throws -> URL {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("fsize-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        return out
    }

    @Test("a disk that fills during rebuild-projections: exit 3 saying the progress up to a position is kept (not 'nothing was written'), --status says it resumes from there, and once space is freed the next run resumes and verify agrees")
    func diskFillsDuringRebuild() throws {
        // The 10 000-event journal with a stale authenticators projection, on a tmpfs with 250 kB
        // to spare: each batch of 50 events commits a few pages to the write-ahead log, which
        // fills the disk some batches in.
        let source = try Workspace()
        let rebuild = RebuildTests()
        try rebuild.importTraffic(source)
        let inline = try rebuild.tables(source.database)
        _ = try SQLite3.query(source.database, "UPDATE projection_checkpoints SET schema_version = 2 WHERE name = 'authenticators'; PRAGMA wal_checkpoint(TRUNCATE);")
        let size = try #require(try FileManager.default.attributesOfItem(atPath: source.database)[.size] as? Int)
        let tool = try Processes.product("rebuild-projections")
        let outcome = try Self.scenario(size: String(size + 250_000), """
            rm -f "$ENROLL_DB" "$ENROLL_DB-wal" "$ENROLL_DB-shm" && cp "\(source.database)" "$ENROLL_DB"
            rebuild() { local name=$1; shift; "\(tool)" "$@" > "$OUT/$name.stdout" 2> "$OUT/$name.stderr"; echo $? > "$OUT/$name.status"; }
            rebuild full --projection authenticators --batch-size 50
            rebuild status --status
            mount -o remount,size=\(4 * size) "$MNT" || echo "remount failed" > "$OUT/setup.error"
            rebuild resumed --projection authenticators
            run verify verify
            snap after
            """)
        expectRefused(outcome, "full", message: "is full; the authenticators rebuild's progress up to position ")
        let stderr = outcome.text("full.stderr")
        #expect(!stderr.contains("nothing was written"), "\(stderr)")
        // The database named in the command to run, as it is not the default one.
        #expect(stderr.contains(" is kept (in the table authenticators_rebuild): free some space and run `rebuild-projections --db "), "\(stderr)")
        #expect(stderr.hasSuffix("/enrollment.sqlite --projection authenticators` again to resume from there"), "\(stderr)")
        let kept = try #require(stderr.split(separator: " ").drop { $0 != "position" }.dropFirst().first.flatMap { Int64($0) }, "\(stderr)")
        #expect(kept > 0 && kept < 10_000)
        #expect(outcome.text("status.stdout").contains("an interrupted rebuild will resume from position \(kept) "), "\(outcome.text("status.stdout"))")
        #expect(outcome.status("resumed") == 0, "\(outcome.text("resumed.stderr"))")
        #expect(outcome.text("resumed.stdout").contains("resumed from position \(kept),"), "\(outcome.text("resumed.stdout"))")
        #expect(outcome.status("verify") == 0, "\(outcome.text("verify.stderr"))")
        let after = outcome.directory.appendingPathComponent("after.db").path
        if let log = outcome.bytes("after.wal") { try log.write(to: URL(fileURLWithPath: after + "-wal")) }
        #expect(try rebuild.tables(after) == inline)
    }

    @Test("output to a full disk: the command says so in one line and exits 3, never a crash or a silent exit 0")
    func outputToFullDisk() throws {
        // The database has room; only stdout (or --output) goes to a second, full tmpfs.
        let outcome = try Self.scenario(size: "4m", """
            mkdir "$MNT/out" && mount -t tmpfs -o size=12k tmpfs "$MNT/out" || echo "mount failed" > "$OUT/setup.error"
            head -c 12288 /dev/zero > "$MNT/out/fill" 2> /dev/null
            out() { local name=$1; shift; "$ENROLL" "$@" > "$MNT/out/$name" 2> "$OUT/$name.stderr"; echo $? > "$OUT/$name.status"; }
            out uri reveal alice --format uri
            out png reveal alice --format png
            out terminal reveal alice
            out request request bob
            out status status alice
            out json status alice --json
            out history history alice
            out audit audit
            out export export
            run exportfile export --output "$MNT/out/export.jsonl"
            """)
        for name in ["uri", "png", "terminal", "request", "status", "json", "history", "audit", "export"] {
            expectRefused(outcome, name, message: "could not write the output (No space left on device)")
        }
        // What a reader of the line needs next: whether the command happened anyway.
        for name in ["status", "json", "history", "audit", "export"] {
            expectRefused(outcome, name, message: "; nothing was changed: make room")
        }
        for name in ["uri", "png", "terminal", "request"] {
            expectRefused(outcome, name, message: "; the command itself was carried out: make room")
        }
        expectRefused(outcome, "exportfile", message: "export.jsonl (No space left on device)")
    }

    @Test("stdout on /dev/full: help and rebuild-projections say so in one line and exit 3, never a trap or a silent 0")
    func helpAndToolsToDevFull() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let bash = try Processes.tool("bash", package: "bash")
        let enroll = try Processes.product("enroll"), rebuild = try Processes.product("rebuild-projections")
        for command in [
            "\"$ENROLL\" --help", "\"$ENROLL\" help status", "\"$REBUILD\" --help",
            "\"$REBUILD\" --db \"$ENROLL_DB\" --status", "\"$REBUILD\" --db \"$ENROLL_DB\" --status --json",
        ] {
            let result = try Processes.run(bash, ["-c", command + " > /dev/full"], environment: [
                "ENROLL": enroll, "REBUILD": rebuild, "ENROLL_DB": workspace.database, "PATH": "/usr/bin:/bin",
            ])
            #expect(result.status == 3, "\(command): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("could not write the output (No space left on device)"), "\(command): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(command): \(result.stderr)")
        }
        // A closed stdout is not a full disk: the line says to send the output elsewhere, not to make room.
        let closed = try Processes.run(bash, ["-c", "\"$ENROLL\" status alice >&-"], environment: ["ENROLL": enroll, "ENROLL_DB": workspace.database, "PATH": "/usr/bin:/bin"])
        #expect(closed.status == 3 && closed.stderr.contains("could not write the output (Bad file descriptor); nothing was changed: send the output somewhere that can be written"), "\(closed.stderr)")
        #expect(!closed.stderr.contains("make room"), "\(closed.stderr)")
    }

    @Test("an I/O error writing the journal (EIO injected with strace, on a disk with room) is an io_error naming a failing volume or a limit, not a full disk; nothing is written, and the next command works", arguments: ["1+", "3+", "15"])
    func ioErrorIsNotAFullDisk(_ when: String) throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "seed"]).status == 0)
        let strace = try Processes.tool("strace", package: "strace")
        let before = workspace.databaseBytes()
        let failed = try Processes.run(
            strace, ["-f", "-qq", "-o", "/dev/null", "-e", "trace=pwrite64", "-e", "inject=pwrite64:error=EIO:when=\(when)",
                     try Processes.product("enroll"), "request", "alice", "--json"],
            environment: ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile])
        let json = (try? JSONSerialization.jsonObject(with: failed.stdoutData)) as? [String: Any] ?? [:]
        #expect(failed.status == 3 && json["error"] as? String == "io_error", "\(failed.stdout) \(failed.stderr)")
        #expect((json["message"] as? String)?.contains("its disk is not full") == true && !failed.stderr.contains("free some space"), "\(failed.stderr)")
        #expect(try SQLite3.eventTypes(workspace.database) == ["EnrollmentRequested"])
        let verified = try workspace.enroll(["verify"])
        #expect(workspace.databaseBytes() == before || verified.status == 0, "\(verified.stdout)")
        let retried = try workspace.enroll(["request", "alice"])
        #expect(retried.status == 0, "\(retried.stderr)")
        #expect(try workspace.enroll(["verify"]).status == 0)
    }
}
