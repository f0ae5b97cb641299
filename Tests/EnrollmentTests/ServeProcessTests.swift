import Foundation
import Synchronization
import Testing
import TestSupport

/// `enroll serve` as real processes on loopback: start-up errors, several servers on one
/// database file, and SIGTERM with requests in flight. HTTP goes through curl, tokens are
/// signed with the openssl command line (HS256, RFC 7515 §A.1), codes come from oathtool.
@Suite(.serialized)
struct ServeProcessTests {
    static let secret = "serve-process-test-secret-0123456789abcdef"

    /// A running `enroll serve --port 0`; the port is read from the line it prints.
    final class Server {
        let process = Process()
        let output = TextBuffer()
        let errors = TextBuffer()
        private(set) var port = 0

        /// `wrapper`: a command that runs the server (strace with its options), or none.
        init(_ workspace: Workspace, extra: [String] = [], environment more: [String: String] = [:], wrapper: [String] = []) throws {
            let enroll = try Processes.product("enroll")
            process.executableURL = URL(fileURLWithPath: wrapper.first ?? enroll)
            process.arguments = (wrapper.isEmpty ? [] : Array(wrapper.dropFirst()) + [enroll])
                + ["serve", "--port", "0", "--db", workspace.database, "--key-file", workspace.keyFile] + extra
            var environment = ProcessInfo.processInfo.environment
            environment["ENROLL_JWT_SECRET"] = ServeProcessTests.secret
            environment.merge(more) { $1 }
            process.environment = environment
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            try process.run()
            Self.collect(out.fileHandleForReading, into: output)
            Self.collect(err.fileHandleForReading, into: errors)
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline, process.isRunning {
                let text = output.text
                if let range = text.range(of: #"http://(\[[0-9a-f:]+\]|[0-9.]+):(\d+)"#, options: .regularExpression) {
                    port = Int(text[range].split(separator: ":").last ?? "") ?? 0
                    break
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
            if port == 0 { Issue.record("enroll serve did not start: \(errors.text)") }
        }

        /// Reads `handle` on a thread of its own until the end, into `buffer`. Not with
        /// `readabilityHandler`: its dispatch source outlived the pipe when a `Server` went away,
        /// and libdispatch's event loop crashed on the closed descriptor (a CI run, in
        /// `_dispatch_event_loop_drain`).
        static func collect(_ handle: FileHandle, into buffer: TextBuffer) {
            Thread {
                while true {
                    let data = handle.availableData
                    if data.isEmpty { break }
                    buffer.append(data)
                }
                buffer.finish()
            }.start()
        }

        /// SIGTERM (or `signal`), then the exit status, once everything the server wrote has been read.
        func stop(signal: Int32 = SIGTERM) -> Int32 {
            if process.isRunning { kill(process.processIdentifier, signal) }
            process.waitUntilExit()
            output.waitUntilFinished()
            errors.waitUntilFinished()
            return process.terminationStatus
        }

        deinit { if process.isRunning { process.terminate() } }
    }

    /// What a process wrote so far, filled by a thread reading its pipe.
    final class TextBuffer: Sendable {
        private let storage = Mutex((text: "", finished: false))
        var text: String { storage.withLock { $0.text } }
        func append(_ data: Data) { storage.withLock { $0.text += String(decoding: data, as: UTF8.self) } }
        /// The pipe reached its end.
        func finish() { storage.withLock { $0.finished = true } }
        /// Waits (at most `seconds`) until the pipe's end has been read.
        func waitUntilFinished(seconds: Double = 10) {
            let deadline = Date().addingTimeInterval(seconds)
            while !storage.withLock({ $0.finished }) && Date() < deadline { usleep(2_000) }
        }
    }

    static func base64URL(_ data: Data) -> String { JWT.base64URL(data) }

    /// A HS256 JWT for `user`, signed by openssl.
    /// `claims`: more members of the payload, e.g. `"iss":"https://idp.example"`.
    static func token(_ user: String, exp: Int64 = Int64(Date().timeIntervalSince1970) + 3600, claims: String = "") throws -> String {
        let payload = #"{"sub":"\#(user)","exp":\#(exp)"# + (claims.isEmpty ? "" : "," + claims) + "}"
        return try JWT.signedByOpenSSL(payload: Data(payload.utf8), key: Array(secret.utf8))
    }

    struct Reply {
        var status: Int
        var body: [String: Any]
    }

    /// One request with curl; status 0 when no HTTP answer came back.
    static func call(_ port: Int, _ method: String, path: String = "/api/users/v1/me/totp", token: String, json: String? = nil) throws -> Reply {
        let curl = try Processes.tool("curl", package: "curl")
        var arguments = ["-s", "-m", "20", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", "Authorization: Bearer \(token)"]
        if let json { arguments += ["-H", "Content-Type: application/json", "--data", json] }
        let result = try Processes.run(curl, arguments + ["http://127.0.0.1:\(port)\(path)"])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.last ?? "") ?? 0
        let body = lines.dropLast().joined(separator: "\n")
        return Reply(status: status, body: (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:])
    }

    static func otpauthURI(_ reply: Reply) -> String? {
        (reply.body["qrCodeUrl"] as? String).flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test("serving on an address other than loopback warns, once, that tokens and secrets cross the network in clear unless a TLS proxy stands in front; loopback gets no warning; on every address (0.0.0.0) the printed links go to the loopback")
    func plainHTTPWarning() throws {
        let workspace = try Workspace()
        let exposed = try Server(workspace, extra: ["--host", "0.0.0.0"])
        #expect(exposed.port != 0)
        #expect(exposed.stop() == 0)
        // Every address is no address to open: the links printed go to the loopback.
        #expect(exposed.output.text.contains("Listening on http://0.0.0.0:\(exposed.port) (API http://127.0.0.1:\(exposed.port)/api/users/v1/me/totp, page http://127.0.0.1:\(exposed.port)/myaccount)"), "\(exposed.output.text)")
        #expect(exposed.output.text.contains("Serving \(workspace.database) with the key file \(workspace.keyFile)"), "\(exposed.output.text)")
        let warnings = exposed.errors.text.split(separator: "\n").filter { $0.contains("plain HTTP") }
        #expect(warnings.count == 1 && warnings[0].contains("unless a proxy that terminates TLS (HTTPS) stands in front"), "\(exposed.errors.text)")
        let local = try Server(workspace)
        #expect(local.stop() == 0)
        #expect(!local.errors.text.contains("plain HTTP"), "\(local.errors.text)")
    }

    @Test("serve refuses to start without a usable key or port: one line, exit 2; a port in use: exit 3")
    func startUpErrors() throws {
        let workspace = try Workspace()
        let noKey = try workspace.enroll(["serve"], environment: ["ENROLL_JWT_SECRET": ""])
        #expect(noKey.status == 2)
        #expect(noKey.stderr.contains("ENROLL_JWT_SECRET"))
        #expect(noKey.stderr.split(separator: "\n").count == 1)
        let short = try workspace.enroll(["serve"], environment: ["ENROLL_JWT_SECRET": "short"])
        #expect(short.status == 2)
        #expect(short.stderr.contains("32"))
        let spaces = try workspace.enroll(["serve"], environment: ["ENROLL_JWT_SECRET": String(repeating: " ", count: 40)])
        #expect(spaces.status == 2)
        #expect(spaces.stderr.contains("only 1 different character (all spaces, or a placeholder)") && spaces.stderr.split(separator: "\n").count == 1, "\(spaces.stderr)")
        #expect(try workspace.enroll(["serve", "--port", "70000"]).status == 2)
        #expect(!FileManager.default.fileExists(atPath: workspace.database), "a refused start created the database")
        #expect(try workspace.enroll(["serve", "--account", "x", "--demo"]).status == 2)
        let first = try Server(workspace)
        let clash = try workspace.enroll(["serve", "--port", String(first.port)], environment: ["ENROLL_JWT_SECRET": Self.secret])
        #expect(clash.status == 3)
        #expect(clash.stderr.contains("--port"))
        #expect(first.stop() == 0)
    }

    @Test("a --jwt-secret-file or --jwt-public-key that is a pipe, or far larger than a key, is refused at start in one line naming it (exit 2), neither waited on nor read whole")
    func tokenKeyFilesThatCannotBeKeys() throws {
        let workspace = try Workspace()
        let large = workspace.path("disk.img"), pipe = workspace.path("key.fifo")
        #expect(FileManager.default.createFile(atPath: large, contents: Data(repeating: 0x41, count: 8_000_000)))
        #expect(mkfifo(pipe, 0o600) == 0)
        // Under `timeout`: a start that waits on the pipe is stopped (exit 124), not waited for.
        let timeout = try Processes.tool("timeout", package: "coreutils")
        for (option, file, said) in [
            ("--jwt-secret-file", large, "holds 8000000 bytes, far more than a key"), ("--jwt-secret-file", pipe, "is a pipe (FIFO), not a file"),
            ("--jwt-public-key", large, "holds 8000000 bytes, far more than a key"), ("--jwt-public-key", pipe, "is a pipe (FIFO), not a file"),
        ] {
            let result = try Processes.run(timeout, ["20", try Processes.product("enroll"), "serve", option, file, "--port", "0", "--db", workspace.database, "--key-file", workspace.keyFile], environment: ["ENROLL_JWT_SECRET": ""])
            #expect(result.status == 2, "\(option) \(file): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(said) && result.stderr.contains(option) && result.stderr.split(separator: "\n").count == 1, "\(option) \(file): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database), "a refused start created the database")
    }

    @Test("--demo with the real token secret (ENROLL_JWT_SECRET or --jwt-secret-file) is refused before anything starts: one line naming it, exit 2, no token printed, nothing created")
    func demoRefusesTheRealSecret() throws {
        let workspace = try Workspace()
        let secretFile = workspace.path("hs256.secret")
        try Data(Self.secret.utf8).write(to: URL(fileURLWithPath: secretFile))
        let common = ["--demo", "--port", "0", "--db", workspace.database, "--key-file", workspace.keyFile]
        let (enroll, server) = (try Processes.product("enroll"), try Processes.product("enroll-server"))
        // Under `timeout`: a server that starts after all is stopped (exit 124), not waited for.
        let timeout = try Processes.tool("timeout", package: "coreutils")
        func start(_ executable: String, _ arguments: [String], secret: String) throws -> Processes.Result {
            try Processes.run(timeout, ["20", executable, "serve"] + arguments + common, environment: ["ENROLL_JWT_SECRET": secret])
        }
        let attempts: [(String, Processes.Result)] = [
            ("ENROLL_JWT_SECRET", try start(enroll, [], secret: Self.secret)),
            ("ENROLL_JWT_SECRET", try start(enroll, ["--json"], secret: Self.secret)),
            ("--jwt-secret-file", try start(enroll, ["--jwt-secret-file", secretFile], secret: "")),
            // enroll-server, which `enroll serve` becomes, checks the same on its own.
            ("ENROLL_JWT_SECRET", try start(server, [], secret: Self.secret)),
            ("--jwt-secret-file", try start(server, ["--jwt-secret-file", secretFile], secret: "")),
        ]
        for (source, result) in attempts {
            #expect(result.status == 2, "\(source): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("--demo") && result.stderr.contains(source) && result.stderr.contains("random secret"), "\(result.stderr)")
            #expect(!result.stdout.contains("token=") && !result.stdout.contains("eyJ") && !result.stderr.contains("token="), "\(result.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database), "a refused start created the database")
        #expect(!FileManager.default.fileExists(atPath: workspace.keyFile), "a refused start created the key file")
        // Without a real secret, --demo starts and prints a token signed with its own, which a
        // server holding the real secret does not accept.
        let demo = try Server(workspace, extra: ["--demo"], environment: ["ENROLL_JWT_SECRET": ""])
        defer { _ = demo.stop() }
        let deadline = Date().addingTimeInterval(10)
        while !demo.output.text.contains("(demo user") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        let printed = try #require(demo.output.text.split(separator: "\n").first { $0.hasPrefix("Open ") }, "\(demo.output.text)")
        let token = String(printed.split(separator: "#token=").last ?? "")
        #expect(try Self.call(demo.port, "GET", path: "/api/users/v1/me/totp/status", token: token).status == 200)
        let real = try Server(try Workspace())
        defer { _ = real.stop() }
        #expect(try Self.call(real.port, "GET", path: "/api/users/v1/me/totp/status", token: token).status == 401)
    }

    @Test("serve --json prints one JSON object once listening (the port chosen for --port 0, the API and page addresses); a failure to start is one JSON object too")
    func jsonOutput() throws {
        let workspace = try Workspace()
        // --demo signs with a random secret of its own; it refuses a real one.
        let server = try Server(workspace, extra: ["--json", "--demo", "--demo-user", "carol"], environment: ["ENROLL_JWT_SECRET": ""])
        defer { _ = server.stop() }
        let lines = server.output.text.split(separator: "\n")
        #expect(lines.count == 1, "\(server.output.text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any])
        let port = try #require(object["port"] as? Int)
        #expect(port == server.port && port > 0)
        #expect(object["listening"] as? String == "http://127.0.0.1:\(port)")
        #expect(object["api"] as? String == "http://127.0.0.1:\(port)/api/users/v1/me/totp")
        #expect(object["health"] as? String == "http://127.0.0.1:\(port)/health")
        #expect(object["demoUser"] as? String == "carol")
        // Which files it serves, as absolute paths.
        #expect(object["database"] as? String == URL(fileURLWithPath: workspace.database).path && object["keyFile"] as? String == URL(fileURLWithPath: workspace.keyFile).path, "\(object)")
        let demoPage = try #require(object["demoPage"] as? String)
        #expect(demoPage.hasPrefix("http://127.0.0.1:\(port)/myaccount#token="))
        // The printed token works against the printed API address.
        let token = String(demoPage.split(separator: "=", maxSplits: 1).last ?? "")
        let status = try Self.call(port, "GET", path: "/api/users/v1/me/totp/status", token: token)
        #expect(status.status == 200, "\(status.body)")

        let clash = try workspace.enroll(["serve", "--json", "--port", String(port)], environment: ["ENROLL_JWT_SECRET": Self.secret])
        #expect(clash.status == 3)
        let failure = try JSONSerialization.jsonObject(with: Data(clash.stdout.utf8)) as? [String: Any]
        #expect(failure?["error"] as? String == "serve_failed", "\(clash.stdout)")
        #expect(clash.stdout.split(separator: "\n").count == 1)
    }

    @Test("--idle-timeout / ENROLL_IDLE_TIMEOUT: a half-sent request (head or body) is closed after it and logged as the server's close (408), not the client's (499); a value that is not seconds is exit 2 before anything is created")
    func idleTimeout() async throws {
        let workspace = try Workspace()
        for bad in ["soon", "0", "-1", "100000", "inf", "nan", "1e1", "0x10", ""] {
            let variable = try workspace.enroll(["serve", "--port", "0"], environment: ["ENROLL_JWT_SECRET": Self.secret, "ENROLL_IDLE_TIMEOUT": bad])
            #expect(variable.status == 2, "\(bad): exit \(variable.status) \(variable.stderr)")
            #expect(variable.stderr.contains("ENROLL_IDLE_TIMEOUT must be a number of seconds from 0.1 to 3600, not '\(bad)'; unset it"), "\(variable.stderr)")
            // The option wins over the variable, and is named in its own refusal.
            let option = try workspace.enroll(["serve", "--port", "0", "--idle-timeout", bad], environment: ["ENROLL_JWT_SECRET": Self.secret, "ENROLL_IDLE_TIMEOUT": "5"])
            #expect(option.status == 2, "\(bad): exit \(option.status) \(option.stderr)")
            #expect(option.stderr.split(separator: "\n").count == 1, "\(option.stderr)")
            #expect(option.stderr.contains("--idle-timeout must be a number of seconds from 0.1 to 3600, not '\(bad)'; drop it"), "\(option.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database), "a refused start created the database")
        // 2 s: long enough that a loaded machine's late event loop does not idle out the complete
        // request below before reading it.
        let server = try Server(workspace, extra: ["--idle-timeout", "2"], environment: ["ENROLL_IDLE_TIMEOUT": "600"])
        defer { _ = server.stop() }
        let port = server.port
        let outcome = try await Task.detached { try RawHTTP.partialRequest(port: port, wait: 12) }.value
        #expect(outcome.closedByServer, "still open after \(outcome.seconds) s")
        #expect(outcome.seconds >= 1.8 && outcome.seconds < 10, "closed after \(outcome.seconds) s")
        // A whole head and half a body, then nothing: the server closes it too, sending nothing.
        let token = try Self.token("ida")
        let received = try await Task.detached { () throws -> [UInt8] in
            let fd = try RawHTTP.connection(port: port, wait: 5)
            defer { close(fd) }
            var timeout = timeval(tv_sec: 12, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let partial = Array("POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"act".utf8)
            _ = send(fd, partial, partial.count, 0)
            var received: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count <= 0 { break }
                received += buffer.prefix(count)
            }
            return received
        }.value
        #expect(received.isEmpty, "\(String(decoding: received, as: UTF8.self))")
        #expect(try await Task.detached { try RawHTTP.statusLineRetrying(port: port) }.value == "HTTP/1.1 200 OK")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, !server.errors.text.contains("path=/api/users/v1/me/totp status=408") { try await Task.sleep(for: .milliseconds(50)) }
        let log = server.errors.text
        #expect(log.contains("nothing came for --idle-timeout") && log.contains("status=408"), "the half-sent head: \(log)")
        #expect(log.contains("method=POST path=/api/users/v1/me/totp status=408"), "the half-sent body: \(log)")
        #expect(!log.contains("status=499") && !log.contains("client closed"), "\(log)")
    }

    @Test("SIGTERM while an authenticated request's body is still coming (a stalled client that then keeps its end open): it is answered 503 server_stopping with Connection: close at once, and the server stops in seconds, not after --idle-timeout")
    func stopDuringBody() throws {
        let workspace = try Workspace()
        let server = try Server(workspace, extra: ["--idle-timeout", "120"])
        let port = server.port
        let token = try Self.token("sam")
        let fd = try RawHTTP.connection(port: port, wait: 5)
        defer { close(fd) }
        let partial = Array("POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"act".utf8)
        _ = send(fd, partial, partial.count, 0)
        Thread.sleep(forTimeInterval: 0.5)
        let start = Date()
        // The client reads its answer only afterwards, and never closes: the stop must not wait for it.
        let status = server.stop()
        let seconds = Date().timeIntervalSince(start)
        #expect(status == 0 && seconds < 15, "exit \(status) after \(seconds) s")
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        let answer = String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self)
        #expect(answer.hasPrefix("HTTP/1.1 503") && answer.contains("\"server_stopping\"") && answer.contains("Connection: close"), "\(answer)")
        // Logged as a notice: every deploy stops a server, which is no error to alert on.
        let failed = server.errors.text.split(separator: "\n").filter { $0.contains("request failed") && $0.contains("server_stopping") }
        #expect(failed.count == 1 && failed.allSatisfy { $0.contains(" notice ") && !$0.contains(" error ") }, "\(server.errors.text)")
        #expect(try workspace.enroll(["verify"]).status == 0)
        #expect(try workspace.enrollJSON(["status", "sam"]).1["status"] as? String == "none", "nothing of the request was run")
    }

    @Test("DELETE through a running server destroys the data key in every file at once, as the command line does: the write-ahead log keeps no copy while the server runs")
    func removalThroughServerShredsTheKey() throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let token = try Self.token("wes")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)
        #expect(try Self.call(server.port, "POST", token: try Self.token("vic"), json: #"{"action":"INIT"}"#).status == 200)
        let wrapped = try #require(KeyTests.bytes(hex: try SQLite3.query(workspace.database, "SELECT hex(wrapped_key) FROM data_keys WHERE stream_id = 'wes'")))
        #expect(try Self.call(server.port, "DELETE", token: token).status == 204)
        #expect(try SQLite3.query(workspace.database, "SELECT stream_id FROM data_keys") == "vic")
        for (name, bytes) in directorySnapshot(workspace.directory) where name.hasPrefix("enrollment.sqlite") {
            #expect(!KeyTests.contains(bytes, wrapped), "\(name) still holds wes's destroyed data key while the server runs")
        }
    }

    @Test("after `keys rotate`, a server still holding the old key file answers 503 service_reconfiguring, its health check too, and logs that it must be restarted with the new one")
    func serverAfterKeyRotation() throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let token = try Self.token("alice")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)
        // The health check needs no token and says nothing about users.
        let healthy = try Self.call(server.port, "GET", path: "/health", token: "")
        #expect(healthy.status == 200 && healthy.body as NSDictionary == ["status": "ok"] as NSDictionary, "\(healthy.body)")
        #expect(try Self.call(server.port, "POST", path: "/health", token: "").status == 405)
        let rotated = try workspace.enroll(["keys", "rotate", "--new-key-file", workspace.path("new.key")])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        let reply = try Self.call(server.port, "POST", token: token, json: #"{"action":"VIEW"}"#)
        #expect(reply.status == 503, "\(reply.body)")
        #expect(reply.body["code"] as? String == "service_reconfiguring", "\(reply.body)")
        let unhealthy = try Self.call(server.port, "GET", path: "/health", token: "")
        #expect(unhealthy.status == 503 && unhealthy.body["code"] as? String == "service_reconfiguring", "\(unhealthy.body)")
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, !server.errors.text.contains("restart every `enroll serve` with --key-file NEW") { Thread.sleep(forTimeInterval: 0.05) }
        #expect(server.errors.text.contains("restart every `enroll serve` with --key-file NEW"), "\(server.errors.text)")
    }

    @Test("a key file deleted or replaced under a running server: it goes on, /health stays 200 (no orchestrator restarts it into a refused start) with a warning naming the problem, logged once, and once more when the file is back")
    func keyFileChangedUnderServer() throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let token = try Self.token("alice")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)
        func health() throws -> NSDictionary {
            let answer = try Self.call(server.port, "GET", path: "/health", token: "")
            #expect(answer.status == 200, "\(answer.body)")
            return answer.body as NSDictionary
        }
        let warning = "the key file changed under the running server"
        let saved = workspace.path("saved.key")
        #expect(rename(workspace.keyFile, saved) == 0)
        #expect(try health() == ["status": "ok", "warning": "key_file_missing"], "deleted")
        #expect(try health() == ["status": "ok", "warning": "key_file_missing"], "deleted, asked again")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"VIEW"}"#).status == 200, "the server goes on with its key")
        try (Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString() + "\n").write(toFile: workspace.keyFile, atomically: true, encoding: .utf8)
        #expect(try health() == ["status": "ok", "warning": "key_file_replaced"], "another key")
        #expect(rename(saved, workspace.keyFile) == 0)
        #expect(try health() == ["status": "ok"], "back")
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, !server.errors.text.contains("holds this server's key again") { Thread.sleep(forTimeInterval: 0.05) }
        let log = server.errors.text
        #expect(log.components(separatedBy: warning).count == 3, "once for the deletion, once for the other key: \(log)")
        #expect(log.contains("the key file \(workspace.keyFile) is missing") && log.contains("now holds another key than the one this process read"), "\(log)")
        #expect(log.contains("holds this server's key again"), "\(log)")
    }

    @Test("a projection table dropped by hand under a running server: /health answers 503 damaged_projection, as every action fails, and 200 again once rebuild-projections has rebuilt it (no restart); a stale projection, which appends pass over, keeps it 200")
    func healthOfProjections() throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let token = try Self.token("alice")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        try #require(try Processes.run(sqlite3, [workspace.database, "DROP TABLE authenticators"]).status == 0)
        let down = try Self.call(server.port, "GET", path: "/health", token: "")
        #expect(down.status == 503 && down.body["code"] as? String == "damaged_projection", "\(down.body)")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"VIEW"}"#).status >= 500)
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--projection", "authenticators"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let up = try Self.call(server.port, "GET", path: "/health", token: "")
        #expect(up.status == 200, "\(up.body)")
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"VIEW"}"#).status == 200)
        // Stale (as after an upgrade, before its rebuild): the API goes on, and so does /health.
        try #require(try Processes.run(sqlite3, [workspace.database, "UPDATE projection_checkpoints SET schema_version = 1 WHERE name = 'authenticators'"]).status == 0)
        #expect(try Self.call(server.port, "GET", path: "/health", token: "").status == 200)
    }

    @Test("the server's log says at start which database and key file it serves, at which durability, and names a projection that is not current (the API goes on), with the command that mends it")
    func startLogNamesFilesAndStaleProjections() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        try #require(try Processes.run(sqlite3, [workspace.database, "UPDATE projection_checkpoints SET schema_version = 1 WHERE name = 'authenticators'"]).status == 0)
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline, !server.errors.text.contains("stale_projection") { Thread.sleep(forTimeInterval: 0.05) }
        let log = server.errors.text
        #expect(log.contains("serving \(workspace.database) with the key file \(workspace.keyFile) at synchronous=FULL"), "\(log)")
        #expect(log.contains("code=stale_projection") && log.contains("rebuild-projections --db \(workspace.database)") && log.contains("(the API goes on: it reads each user's own events)"), "\(log)")
        #expect(!log.contains("enrollment_activity"), "only the stale one: \(log)")
        #expect(try Self.call(server.port, "POST", token: try Self.token("bob"), json: #"{"action":"INIT"}"#).status == 200)
    }

    @Test("a database file replaced (a backup moved over it) or deleted under a running server: every write and /health refuse (database_moved), nothing goes to the old file, and after a restart the restored file is the backup, intact")
    func databaseMovedUnderServer() throws {
        let workspace = try Workspace()
        var server = try Server(workspace)
        #expect(try Self.call(server.port, "POST", token: try Self.token("ann"), json: #"{"action":"INIT"}"#).status == 200)
        _ = try SQLite3.query(workspace.database, ".backup '\(workspace.path("backup.sqlite"))'")
        // Written after the backup, still in the write-ahead log when the backup comes back.
        for user in ["bob", "cy", "dee"] {
            #expect(try Self.call(server.port, "POST", token: try Self.token(user), json: #"{"action":"INIT"}"#).status == 200)
        }
        try FileManager.default.copyItem(atPath: workspace.path("backup.sqlite"), toPath: workspace.path("copy.sqlite"))
        #expect(rename(workspace.path("copy.sqlite"), workspace.database) == 0)

        let refused = try Self.call(server.port, "POST", token: try Self.token("eve"), json: #"{"action":"INIT"}"#)
        #expect(refused.status == 500 && refused.body["code"] as? String == "database_moved", "\(refused.body)")
        let health = try Self.call(server.port, "GET", path: "/health", token: "")
        #expect(health.status == 503 && health.body["code"] as? String == "database_moved", "\(health.body)")
        #expect(try Self.call(server.port, "DELETE", token: try Self.token("ann")).status == 500)
        _ = server.stop()
        #expect(server.errors.text.contains("was deleted or replaced by another file while this process had it open"), "\(server.errors.text)")
        #expect(server.errors.text.contains("restart the process"), "\(server.errors.text)")

        // Restarted, the server reads the backup as it was: the users written after it, and
        // none written after the move, and no old page replayed onto it.
        #expect(try SQLite3.query(workspace.database, "PRAGMA integrity_check") == "ok")
        #expect(try SQLite3.query(workspace.database, "SELECT group_concat(DISTINCT stream_id) FROM events") == "ann")
        let verified = try workspace.enroll(["verify"])
        #expect(verified.status == 0, "\(verified.stderr)")
        server = try Server(workspace)
        #expect(try Self.call(server.port, "POST", token: try Self.token("bob"), json: #"{"action":"INIT"}"#).status == 200)

        // Deleted: the same refusal, and a new database made at the path by the command line is not written by the server.
        for suffix in ["", "-wal", "-shm"] { unlink(workspace.database + suffix) }
        #expect(try Self.call(server.port, "POST", token: try Self.token("fay"), json: #"{"action":"INIT"}"#).body["code"] as? String == "database_moved")
        #expect(try Self.call(server.port, "GET", path: "/health", token: "").status == 503)
        #expect(try workspace.enroll(["request", "gil"]).status == 0)
        #expect(try Self.call(server.port, "POST", token: try Self.token("hal"), json: #"{"action":"INIT"}"#).status == 500)
        _ = server.stop()
        #expect(try SQLite3.query(workspace.database, "SELECT group_concat(DISTINCT stream_id) FROM events") == "gil")
    }

    @Test("a database moved away and a copy put at its path, then the original moved back, under a running server: the writes meanwhile are refused (database_moved), and once the original is back they go through again without a restart")
    func databaseMovedAwayAndBack() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "ann"]).status == 0)
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let original = workspace.path("original.sqlite")
        #expect(rename(workspace.database, original) == 0)
        try FileManager.default.copyItem(atPath: original, toPath: workspace.database)
        // The server's first command reads the copy, on a connection opened for it, and is
        // refused by the writer, which has the original open.
        for user in ["bob", "cy"] {
            let refused = try Self.call(server.port, "POST", token: try Self.token(user), json: #"{"action":"INIT"}"#)
            #expect(refused.status == 500 && refused.body["code"] as? String == "database_moved", "\(user): \(refused.body)")
        }
        #expect(unlink(workspace.database) == 0)
        #expect(rename(original, workspace.database) == 0)

        #expect(try Self.call(server.port, "GET", path: "/health", token: "").status == 200)
        for user in ["dee", "eve"] {
            let accepted = try Self.call(server.port, "POST", token: try Self.token(user), json: #"{"action":"INIT"}"#)
            #expect(accepted.status == 200, "\(user): \(accepted.body)")
        }
        #expect(server.stop() == 0)
        #expect(try SQLite3.query(workspace.database, "PRAGMA integrity_check") == "ok")
        #expect(try SQLite3.query(workspace.database, "SELECT group_concat(DISTINCT stream_id) FROM (SELECT stream_id FROM events ORDER BY position)") == "ann,dee,eve")
        let verified = try workspace.enroll(["verify"])
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    @Test("a LOG_LEVEL that is no level is refused (exit 2, naming the levels) before anything is created; any case of a real one is taken")
    func logLevel() throws {
        let workspace = try Workspace()
        for bad in ["abc", "0", "-1", "", "verbose"] {
            let result = try workspace.enroll(["serve", "--port", "0"], environment: ["ENROLL_JWT_SECRET": Self.secret, "LOG_LEVEL": bad])
            #expect(result.status == 2, "\(bad): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical, not '\(bad)'"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database), "a refused start created the database")
        let server = try Server(workspace, environment: ["LOG_LEVEL": "Warning"])
        #expect(server.port > 0)
        #expect(server.stop() == 0)
    }

    @Test("serve names the bad option before creating anything: a key file that is no PEM public key, a host that is no address (exit 2); a port in use (exit 3)")
    func startUpInputNamed() throws {
        let workspace = try Workspace()
        let openssl = try Processes.tool("openssl", package: "openssl")
        try Data("hello, not a key\n".utf8).write(to: URL(fileURLWithPath: workspace.path("not-pem.txt")))
        let privateKey = workspace.path("private.pem")
        _ = try Processes.output(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", privateKey])
        // What identity providers often publish: a certificate, from which openssl takes the key.
        let certificate = workspace.path("issuer.crt")
        _ = try Processes.output(openssl, ["req", "-new", "-x509", "-key", privateKey, "-subj", "/CN=idp.example", "-days", "1", "-out", certificate])
        let cases: [([String], String)] = [
            (["--jwt-public-key", workspace.path("not-pem.txt")], "not-pem.txt: the file is not a PEM public key of RSA (2048 bits or more) or P-256: it has no '-----BEGIN PUBLIC KEY-----' line"),
            (["--jwt-public-key", privateKey], "it holds a private key, and the server needs only the public one"),
            (["--jwt-public-key", certificate], "it holds a certificate, and the server needs its public key (`openssl x509 -in CERT -pubkey -noout` writes it)"),
            (["--host", "999.1.1.1", "--port", "0"], "--host '999.1.1.1' is not a valid address or a name this machine resolves"),
        ]
        for (arguments, message) in cases {
            let result = try workspace.enroll(["serve"] + arguments, environment: ["ENROLL_JWT_SECRET": Self.secret])
            #expect(result.status == 2, "\(arguments): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains(".swift") && !result.stderr.contains("ASN1Error") && !result.stderr.contains("--port or"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database), "a refused start created the database")
        #expect(!FileManager.default.fileExists(atPath: workspace.keyFile), "a refused start created the key file")
        let first = try Server(workspace)
        defer { _ = first.stop() }
        let clash = try workspace.enroll(["serve", "--port", String(first.port)], environment: ["ENROLL_JWT_SECRET": Self.secret])
        #expect(clash.status == 3)
        #expect(clash.stderr == "enroll: error: cannot listen on 127.0.0.1:\(first.port): the port is already in use; pick another --port (0: any free port) or stop what uses it\n", "\(clash.stderr)")
    }

    @Test("`enroll serve` with ENROLL_NOW set warns at start that its clock stands still (every event recorded at that time); without it, no such warning")
    func fixedClockWarning() throws {
        let workspace = try Workspace()
        let fixed = try Server(workspace, environment: ["ENROLL_NOW": "1764421576"])
        #expect(fixed.stop() == 0)
        // A clean stop closes the database before the process exits: its log is checkpointed and gone.
        #expect(FileManager.default.fileExists(atPath: workspace.database))
        #expect(!FileManager.default.fileExists(atPath: workspace.database + "-wal"))
        #expect(fixed.errors.text.contains("enroll: warning: ENROLL_NOW is set: the server's clock stands still at 2025-11-29T13:06:16Z"), "\(fixed.errors.text)")
        #expect(fixed.errors.text.contains("codes and the tokens' exp and nbf are checked against it"), "\(fixed.errors.text)")
        let system = try Server(workspace)
        #expect(system.stop() == 0)
        #expect(!system.errors.text.contains("ENROLL_NOW"), "\(system.errors.text)")
    }

    @Test("a refused request head's own bytes (a Transfer-Encoding) reach the log quoted and escaped: no client writes fields of the access line or drives the terminal")
    func refusedHeadLoggedQuoted() async throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        let port = server.port
        let forged = "x' duration_ms=3.1 method=DELETE status=204 user=alice \u{202E}'"
        let answer = try await RawHTTP.onThread {
            try RawHTTP.exchange(port: port, bytes: "DELETE /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: \(forged)\r\n\r\n")
        }
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request"), "\(answer.prefix(200))")
        #expect(server.stop() == 0)
        let line = try #require(server.errors.text.split(separator: "\n").first { $0.contains("malformed request") }, "\(server.errors.text)")
        #expect(line.contains(#"error="the request's Transfer-Encoding is 'x' duration_ms=3.1 method=DELETE status=204 user=alice \u202e'"#), "\(line)")
        // The forged fields stay inside the quoted value: the line's own status follows it.
        #expect(!line.contains("\u{202E}") && line.contains(#"or a Content-Length" status=400 trace_id="#), "\(line)")
    }

    @Test("ENROLL_JWT_SECRET left set beside --jwt-public-key: the server warns that it is ignored and refuses HS256 tokens signed with it; without the variable, no warning")
    func ignoredSecretWarned() throws {
        let workspace = try Workspace()
        let openssl = try Processes.tool("openssl", package: "openssl")
        let privateKey = workspace.path("private.pem"), publicKey = workspace.path("public.pem")
        _ = try Processes.output(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", privateKey])
        _ = try Processes.output(openssl, ["pkey", "-in", privateKey, "-pubout", "-out", publicKey])
        let both = try Server(workspace, extra: ["--jwt-public-key", publicKey])
        #expect(try Self.call(both.port, "GET", path: "/api/users/v1/me/totp/status", token: try Self.token("hs")).status == 401)
        #expect(both.stop() == 0)
        #expect(both.errors.text.contains("enroll: warning: ENROLL_JWT_SECRET is set, and ignored: with --jwt-public-key"), "\(both.errors.text)")
        let keyOnly = try Server(workspace, extra: ["--jwt-public-key", publicKey], environment: ["ENROLL_JWT_SECRET": ""])
        #expect(keyOnly.stop() == 0)
        #expect(!keyOnly.errors.text.contains("ENROLL_JWT_SECRET"), "\(keyOnly.errors.text)")
    }

    /// One request with curl, with the response's headers (lower-cased names).
    static func callWithHeaders(_ port: Int, _ method: String, path: String, token: String, body: String? = nil, in workspace: Workspace) throws -> (Reply, [String: String]) {
        let curl = try Processes.tool("curl", package: "curl")
        let headerFile = workspace.path("headers-\(UUID().uuidString)")
        var arguments = ["-s", "-m", "20", "-D", headerFile, "-o", "-", "-w", "\n%{http_code}", "-X", method, "-H", "Authorization: Bearer \(token)"]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        let result = try Processes.run(curl, arguments + ["http://127.0.0.1:\(port)\(path)"])
        let lines = result.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let json = (try? JSONSerialization.jsonObject(with: Data(lines.dropLast().joined(separator: "\n").utf8))) as? [String: Any] ?? [:]
        var headers: [String: String] = [:]
        for line in ((try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? "").split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (Reply(status: Int(lines.last ?? "") ?? 0, body: json), headers)
    }

    @Test("the API names what is wrong: a number for verificationCode, a code with a line break (400); PUT or PATCH on a path (405 with Allow)")
    func requestShapesNamed() throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        defer { _ = server.stop() }
        let token = try Self.token("alice")
        let totp = "/api/users/v1/me/totp"
        #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)

        let number = try Self.call(server.port, "POST", token: token, json: #"{"action":"VALIDATE","verificationCode":123456}"#)
        #expect(number.status == 400, "\(number.body)")
        #expect(number.body["code"] as? String == "invalid_verification_code", "\(number.body)")
        #expect((number.body["message"] as? String)?.contains("'verificationCode' must be a string of digits") == true, "\(number.body)")
        #expect(number.body["description"] != nil && number.body["traceId"] != nil)

        let newline = try Self.call(server.port, "POST", token: token, json: "{\"action\":\"VALIDATE\",\"verificationCode\":\"123456\\n\"}")
        #expect(newline.status == 400, "\(newline.body)")
        #expect((newline.body["message"] as? String)?.contains("it contains whitespace") == true, "\(newline.body)")
        #expect((newline.body["message"] as? String)?.contains("spaces") == false, "\(newline.body)")

        for (method, path, allowed) in [("PUT", totp, "GET, POST, DELETE"), ("PATCH", totp, "GET, POST, DELETE"), ("PATCH", totp + "/", "GET, POST, DELETE"),
                                        ("POST", totp + "/status", "GET, HEAD"), ("DELETE", totp + "/history", "GET, HEAD"), ("PUT", "/myaccount", "GET, HEAD")] {
            let (reply, headers) = try Self.callWithHeaders(server.port, method, path: path, token: token, body: "{}", in: workspace)
            #expect(reply.status == 405, "\(method) \(path): \(reply.status) \(reply.body)")
            #expect(headers["allow"] == allowed, "\(method) \(path): \(headers)")
            #expect(reply.body["code"] as? String == "method_not_allowed", "\(method) \(path): \(reply.body)")
            for key in ["message", "description", "traceId"] { #expect(reply.body[key] != nil, "\(method) \(path): no \(key)") }
        }
        let (missing, missingHeaders) = try Self.callWithHeaders(server.port, "PUT", path: totp + "/nothing", token: token, in: workspace)
        #expect(missing.status == 404 && missingHeaders["allow"] == nil, "\(missing.status) \(missingHeaders)")
        // Nothing of that was recorded: only the INIT.
        #expect(try workspace.enroll(["audit"]).stdout.split(separator: "\n").count == 2)
    }

    @Test("`enroll serve` without enroll-server beside it: one line saying what to build, exit 3, nothing written")
    func serverExecutableMissing() throws {
        let workspace = try Workspace()
        // A copy of `enroll` alone in a directory (a symlink would resolve to the build directory).
        let lone = workspace.path("enroll")
        try FileManager.default.copyItem(atPath: try Processes.product("enroll"), toPath: lone)
        let result = try Processes.run(
            lone, ["serve", "--demo", "--port", "0", "--db", workspace.database, "--key-file", workspace.keyFile], environment: ["ENROLL_JWT_SECRET": ""])
        #expect(result.status == 3)
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(workspace.path("enroll-server")) && result.stderr.contains("swift build --product enroll-server"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
        #expect(!FileManager.default.fileExists(atPath: workspace.keyFile))
        let json = try Processes.run(lone, ["serve", "--json", "--port", "0", "--db", workspace.database, "--key-file", workspace.keyFile])
        #expect(json.status == 3)
        let object = try? JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["error"] as? String == "server_missing", "\(json.stdout)")
    }

    @Test("`enroll serve --help` is enroll-server's own help, word for word")
    func helpIsTheServers() throws {
        let viaEnroll = try Processes.run(try Processes.product("enroll"), ["serve", "--help"])
        let server = try Processes.run(try Processes.product("enroll-server"), ["serve", "--help"])
        #expect(viaEnroll.status == 0 && server.status == 0)
        #expect(viaEnroll.stdout.contains("USAGE: enroll serve"))
        #expect(viaEnroll.stdout == server.stdout)
    }

    @Test("--jwt-issuer and ENROLL_JWT_AUDIENCE: the server refuses tokens without them (401 naming the claim) and accepts the right ones")
    func issuerAndAudience() throws {
        let workspace = try Workspace()
        let server = try Server(workspace, extra: ["--jwt-issuer", "https://idp.example"], environment: ["ENROLL_JWT_AUDIENCE": "enroll"])
        defer { _ = server.stop() }
        let bare = try Self.call(server.port, "GET", path: "/api/users/v1/me/totp/status", token: try Self.token("alice"))
        #expect(bare.status == 401 && (bare.body["message"] as? String)?.contains("(iss)") == true, "\(bare.body)")
        let otherAudience = try Self.token("alice", claims: #""iss":"https://idp.example","aud":"payroll""#)
        let refused = try Self.call(server.port, "GET", path: "/api/users/v1/me/totp/status", token: otherAudience)
        #expect(refused.status == 401 && (refused.body["message"] as? String)?.contains("(aud)") == true, "\(refused.body)")
        let right = try Self.token("alice", claims: #""iss":"https://idp.example","aud":["payroll","enroll"]"#)
        #expect(try Self.call(server.port, "GET", path: "/api/users/v1/me/totp/status", token: right).status == 200)
        #expect(server.stop() == 0)
        #expect(!server.errors.text.contains("tokens are not checked"), "\(server.errors.text)")
        // Without them the log says, once at start, which claims go unchecked and what to set.
        let issuerOnly = try Server(workspace, extra: ["--jwt-issuer", "https://idp.example"])
        #expect(issuerOnly.stop() == 0)
        #expect(issuerOnly.errors.text.contains("notice enrollment.server: [enroll_server] tokens are not checked for aud: any token the key verifies is accepted, including one the identity provider issued for another application; set --jwt-audience unless"), "\(issuerOnly.errors.text)")
    }

    @Test("an empty --jwt-issuer, --jwt-audience, ENROLL_JWT_ISSUER or ENROLL_JWT_AUDIENCE is refused before anything starts (one line naming it, exit 2, nothing created), not taken as 'check nothing'")
    func emptyIssuerOrAudience() throws {
        let workspace = try Workspace()
        let cases: [(arguments: [String], environment: [String: String], named: String)] = [
            (["--jwt-issuer", ""], [:], "--jwt-issuer"),
            (["--jwt-audience", ""], [:], "--jwt-audience"),
            ([], ["ENROLL_JWT_ISSUER": ""], "ENROLL_JWT_ISSUER"),
            ([], ["ENROLL_JWT_AUDIENCE": ""], "ENROLL_JWT_AUDIENCE"),
        ]
        for (arguments, environment, named) in cases {
            let result = try workspace.enroll(["serve", "--port", "0"] + arguments, environment: environment.merging(["ENROLL_JWT_SECRET": Self.secret]) { $1 })
            #expect(result.status == 2, "\(named): exit \(result.status) \(result.stderr)")
            #expect(result.stderr.contains(named) && result.stderr.contains("empty"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
    }

    @Test("two server processes on one database: concurrent enrollments across both stay consistent")
    func twoServersOneDatabase() throws {
        let workspace = try Workspace()
        let a = try Server(workspace)
        let b = try Server(workspace)
        let (portA, portB) = (a.port, b.port)
        let users = (0..<12).map { "user\($0)" }
        let tokens = try users.map { try Self.token($0) }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: users.count) { index in
            do {
                let user = users[index], token = tokens[index]
                let (first, second) = index % 2 == 0 ? (portA, portB) : (portB, portA)
                let initReply = try Self.call(first, "POST", token: token, json: #"{"action":"INIT"}"#)
                guard initReply.status == 200, let uri = Self.otpauthURI(initReply), let secret = secretParameter(of: uri) else {
                    failures.withLock { $0.append("\(user) INIT \(initReply.status)") }
                    return
                }
                let code = try Oathtool.code(base32Secret: secret)
                let validate = try Self.call(second, "POST", token: token, json: #"{"action":"VALIDATE","verificationCode":"\#(code)"}"#)
                if validate.body["isValid"] as? Bool != true { failures.withLock { $0.append("\(user) VALIDATE \(validate.status)") } }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        // One user hammered through both servers at once: every answer is a defined one.
        let token = try Self.token("user0")
        let statuses = Mutex<[Int]>([])
        DispatchQueue.concurrentPerform(iterations: 16) { index in
            let action = index % 2 == 0 ? "REFRESH" : "VIEW"
            let reply = try? Self.call(index % 2 == 0 ? portA : portB, "POST", token: token, json: #"{"action":"\#(action)"}"#)
            statuses.withLock { $0.append(reply?.status ?? 0) }
        }
        #expect(failures.withLock { $0 } == [])
        #expect(statuses.withLock { $0 }.allSatisfy { $0 == 200 }, "\(statuses.withLock { $0 })")
        #expect(a.stop() == 0)
        #expect(b.stop() == 0)
        for user in users {
            let (_, status) = try workspace.enrollJSON(["status", user])
            #expect(status["status"] as? String == "active", "\(user)")
        }
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a client that closes the connection (or only its sending half) halfway through its head or its body is logged as an abort (status 499), not as a malformed request (400), is sent nothing, and nothing is recorded")
    func clientAborts() throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        let token = try Self.token("abby")
        let path = "/api/users/v1/me/totp"
        for partial in [
            "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthor",
            "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"action\"",
        ] {
            let fd = try RawHTTP.connection(port: server.port, wait: 5)
            let bytes = Array(partial.utf8)
            #expect(send(fd, bytes, bytes.count, 0) == bytes.count)
            Thread.sleep(forTimeInterval: 0.3)  // the server has read what came
            close(fd)
        }
        // One that only half-closes (it stops sending, it could still read) is sent nothing: 499
        // is the log's word, not an HTTP answer.
        let halfClosed = try RawHTTP.connection(port: server.port, wait: 10)
        let partial = Array("POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"act".utf8)
        #expect(send(halfClosed, partial, partial.count, 0) == partial.count)
        shutdown(halfClosed, Int32(SHUT_WR))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(halfClosed, &buffer, buffer.count, 0)
            if count <= 0 { break }
            received += buffer.prefix(count)
        }
        close(halfClosed)
        #expect(received.isEmpty, "sent to a half-closed client: \(String(decoding: received, as: UTF8.self))")
        let deadline = Date().addingTimeInterval(20)
        // Three lines: the abort in the head (which has no method or path yet, but a trace id as
        // every line has), and the two in the body.
        while Date() < deadline, server.errors.text.components(separatedBy: "status=499 trace_id").count < 4 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(server.stop() == 0)
        let log = server.errors.text
        #expect(log.contains("client closed the connection in the middle of a request") && log.contains("status=499"), "\(log)")
        #expect(log.split(separator: "\n").filter { $0.contains("status=499") && !$0.contains("trace_id=") }.isEmpty, "a line without a trace id: \(log)")
        #expect(log.contains("method=POST path=\(path) status=499"), "the abort halfway through the body: \(log)")
        #expect(!log.contains("malformed request") && !log.contains("status=400"), "\(log)")
        #expect(try workspace.enrollJSON(["status", "abby"]).1["status"] as? String == "none")
    }

    @Test("serve raises its soft open-file limit to the hard one (a connection is a descriptor) and says so at start")
    func descriptorLimitRaised() throws {
        var limit = rlimit()
        try #require(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0)
        let hard = min(limit.rlim_max, 1 << 20)
        try #require(hard > 300, "this machine's hard limit (\(limit.rlim_max)) leaves nothing to raise")
        let workspace = try Workspace()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = ["-c", "ulimit -Sn 300; exec \"$0\" serve --port 0 --db \"$1\" --key-file \"$2\"", try Processes.product("enroll"), workspace.database, workspace.keyFile]
        var environment = ProcessInfo.processInfo.environment
        environment["ENROLL_JWT_SECRET"] = Self.secret
        process.environment = environment
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let errors = TextBuffer()
        Server.collect(err.fileHandleForReading, into: errors)
        defer {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, !errors.text.contains("Server started") { Thread.sleep(forTimeInterval: 0.05) }
        #expect(errors.text.contains("open file limit raised from 300 to \(hard) (one descriptor per connection)"), "\(errors.text)")
        // `enroll serve` execs enroll-server in the same process: its limits are the server's.
        let limits = try String(contentsOfFile: "/proc/\(process.processIdentifier)/limits", encoding: .utf8)
        let line = limits.split(separator: "\n").first { $0.hasPrefix("Max open files") } ?? ""
        #expect(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(3).first.map(String.init) == "\(hard)", "\(line)")
    }

    @Test("neither the server nor a command can write a core file (the master key and open secrets are in their memory), even started with `ulimit -c unlimited`")
    func noCoreFiles() throws {
        let workspace = try Workspace()
        let prlimit = try Processes.tool("prlimit", package: "util-linux")
        func coreLimit(_ pid: Int32) throws -> String {
            let limits = try String(contentsOfFile: "/proc/\(pid)/limits", encoding: .utf8)
            let line = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") } ?? ""
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(4).prefix(2).joined(separator: " ")
        }
        let server = try Server(workspace, wrapper: [prlimit, "--core=unlimited:unlimited"])
        defer { _ = server.stop() }
        #expect(try coreLimit(server.process.processIdentifier) == "0 0")
        // A command, caught while it waits for a code on standard input.
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let command = Process()
        command.executableURL = URL(fileURLWithPath: prlimit)
        command.arguments = ["--core=unlimited:unlimited", try Processes.product("enroll"), "confirm", "alice", "-", "--db", workspace.database, "--key-file", workspace.keyFile]
        let input = Pipe()
        command.standardInput = input
        command.standardOutput = FileHandle.nullDevice
        command.standardError = FileHandle.nullDevice
        try command.run()
        defer { try? input.fileHandleForWriting.close(); command.waitUntilExit() }
        let deadline = Date().addingTimeInterval(20)
        var seen = ""
        while Date() < deadline, command.isRunning {
            seen = (try? coreLimit(command.processIdentifier)) ?? ""
            if seen == "0 0" { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        #expect(seen == "0 0", "\(seen)")
    }

    @Test("idle connections past the open-file limit wait in the listen queue: the server does not spin on accept (EMFILE), says once that it is full, and serves again once they close")
    func connectionFloodAtTheDescriptorLimit() async throws {
        let workspace = try Workspace()
        let prlimit = try Processes.tool("prlimit", package: "util-linux")
        // 64 descriptors, soft and hard, as a tight LimitNOFILE= would give.
        let server = try Server(workspace, extra: ["--idle-timeout", "600"], wrapper: [prlimit, "--nofile=64:64"])
        defer { _ = server.stop() }
        let (port, pid) = (server.port, server.process.processIdentifier)
        let sockets = try await RawHTTP.onThread { try (0..<100).map { _ in try RawHTTP.connection(port: port, wait: 5) } }
        /// User and system CPU time of the server, in clock ticks (/proc/PID/stat, fields 14 and 15).
        func cpuTicks() throws -> Int {
            let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
            let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
            return Int(fields[11])! + Int(fields[12])!
        }
        try await Task.sleep(for: .milliseconds(500))
        let before = try cpuTicks()
        try await Task.sleep(for: .seconds(2))
        let used = try cpuTicks() - before
        // Spinning on EMFILE took ~185 ticks of 200 in these 2 s; waiting takes next to none.
        #expect(used < 40, "the server used \(used) ticks of CPU in 2 s while 100 idle connections waited")
        let full = server.errors.text
        #expect(full.contains("connections are open, the most this server holds") && full.contains("new connections wait in the listen queue until one closes"), "\(full)")
        for socket in sockets { close(socket) }
        #expect(try await RawHTTP.onThread { try RawHTTP.statusLineRetrying(port: port) } == "HTTP/1.1 200 OK")
        #expect(server.errors.text.components(separatedBy: "connections are open").count == 2, "warned more than once a minute: \(server.errors.text)")
    }

    @Test("SIGTERM, Ctrl-C or SIGHUP (a closed terminal, a service manager's reload) with requests in flight: each gets a whole answer or none, the journal holds exactly the answered ones", arguments: [SIGTERM, SIGINT, SIGHUP])
    func gracefulShutdown(_ signal: Int32) throws {
        let workspace = try Workspace()
        let server = try Server(workspace)
        let port = server.port
        // Tokens first: processes spawned at the same time slow each other down (inherited pipes).
        let tokens = try (0..<24).map { try Self.token("user\($0)") }
        // One curl sends all 24 at once (--parallel), so they really are in flight together.
        var arguments = ["-s", "--parallel", "--parallel-immediate", "--parallel-max", "24"]
        for token in tokens {
            arguments += [
                "-m", "20", "-o", "/dev/null", "-w", "%{http_code}\n", "-X", "POST", "-H", "Authorization: Bearer \(token)",
                "-H", "Content-Type: application/json", "--data", #"{"action":"INIT"}"#, "http://127.0.0.1:\(port)/api/users/v1/me/totp", "--next",
            ]
        }
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: try Processes.tool("curl", package: "curl"))
        curl.arguments = Array(arguments.dropLast())
        let output = Pipe()
        curl.standardOutput = output
        try curl.run()
        // SIGTERM as soon as the first request has been answered: the others are in flight or queued.
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, !server.errors.text.contains("status=200") { Thread.sleep(forTimeInterval: 0.002) }
        #expect(server.stop(signal: signal) == 0, "exit status after signal \(signal)")
        #expect(server.errors.text.contains("Server stopped: no longer listening, every request in flight answered"), "a clean stop is logged")
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.waitUntilExit()
        let statuses = printed.split(separator: "\n").map { Int($0) ?? -1 }
        #expect(statuses.count == 24)
        #expect(statuses.allSatisfy { $0 == 200 || $0 == 0 }, "\(statuses)")
        let answered = statuses.filter { $0 == 200 }.count
        #expect(answered > 0)
        var enrolled = 0
        for index in 0..<24 {
            let (_, status) = try workspace.enrollJSON(["status", "user\(index)"])
            if status["status"] as? String == "pending" { enrolled += 1 }
        }
        #expect(enrolled == answered, "every answered INIT is recorded and nothing unanswered is")
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a commit whose fsync fails (EIO injected with strace) is answered as failed and stays failed when the server is killed right after: crash recovery does not commit what the client was told failed")
    func failedSyncStaysFailed() throws {
        let strace = try Processes.tool("strace", package: "strace")
        let token = try Self.token("a1")
        /// A server on a fresh journal under strace; returns it after an INIT, with the number of
        /// syncs made until then.
        func serverAfterInit(injectingAt sync: Int?) throws -> (Workspace, Server, Int) {
            let workspace = try Workspace()
            #expect(try workspace.enroll(["request", "seed"]).status == 0)
            var wrapper = [strace, "-f", "-qq", "-ttt", "-o", workspace.path("syncs.txt"), "-e", "trace=fdatasync"]
            if let sync { wrapper += ["-e", "inject=fdatasync:error=EIO:when=\(sync)"] }
            let server = try Server(workspace, wrapper: wrapper)
            #expect(try Self.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)
            let initDone = Date().timeIntervalSince1970
            Thread.sleep(forTimeInterval: 0.3)
            let lines = (try? String(contentsOfFile: workspace.path("syncs.txt"), encoding: .utf8)) ?? ""
            // strace counts a fault's `when` per process: the server's own syncs (the process
            // that made the last one), not the launcher's.
            let syncs = lines.split(separator: "\n").map { $0.split(separator: " ") }.filter { fields in
                fields.count > 2 && fields[2].hasPrefix("fdatasync(") && (Double(fields[1]) ?? .infinity) < initDone
            }
            let serverPID = syncs.last?.first
            return (workspace, server, syncs.filter { $0.first == serverPID }.count)
        }
        /// SIGKILL to the server under strace (strace's children), then to strace.
        func crash(_ server: Server) {
            let pid = server.process.processIdentifier
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGKILL) }
            kill(pid, SIGKILL)
            server.process.waitUntilExit()
        }
        // Without the fault: how many syncs the start and the INIT make.
        let (_, plain, syncs) = try serverAfterInit(injectingAt: nil)
        crash(plain)
        try #require(syncs > 0, "strace saw no fdatasync")
        // With each of the DELETE's syncs failing in turn (a log header's, the commit's, the
        // checkpoint's after it): what the answer said is what the journal holds after a crash.
        var failures = 0
        for sync in syncs + 1...syncs + 3 {
            let (workspace, server, _) = try serverAfterInit(injectingAt: sync)
            let removal = try Self.call(server.port, "DELETE", token: token)
            crash(server)
            let types = try SQLite3.eventTypes(workspace.database, user: "a1")
            if removal.status == 204 {
                #expect(types == ["EnrollmentRequested", "AuthenticatorRemoved"], "sync \(sync): answered 204, then \(types)")
            } else {
                failures += 1
                #expect(removal.status == 500 && removal.body["code"] as? String == "io_error", "sync \(sync): \(removal.status) \(removal.body)")
                #expect(types == ["EnrollmentRequested"], "sync \(sync): answered \(removal.status), yet the removal came back after the crash")
            }
            #expect(try workspace.enroll(["verify"]).status == 0)
        }
        #expect(failures > 0, "no injected fault made the DELETE fail (\(syncs) syncs before it)")
    }
}
