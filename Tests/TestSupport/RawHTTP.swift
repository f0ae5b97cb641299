import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// HTTP/1.1 over a plain TCP socket, for what an HTTP client library will not do: send half a
/// request and wait (a slow or stalled client).
public enum RawHTTP {
    /// What a raw TCP client saw after sending half a request and waiting.
    public struct Outcome: Sendable {
        public var closedByServer: Bool
        public var seconds: Double
    }

    /// Runs blocking socket calls on a thread of their own and awaits the result. Not on a task:
    /// a task blocked in `recv` holds one of the cooperative pool's threads (two on a two-core
    /// machine), where the server under test runs its handlers, so a few such tasks starve the
    /// server they are waiting for.
    public static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// A TCP connection to 127.0.0.1:`port` that gives up reading after `wait` seconds.
    public static func connection(port: Int, wait: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(connected == 0)
        var limit = timeval(tv_sec: wait, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends a whole request and returns the answer's status line ("" if none came within `wait`
    /// seconds).
    public static func statusLine(port: Int, wait: Int = 5) throws -> String {
        let fd = try connection(port: port, wait: wait)
        defer { close(fd) }
        let request = Array("GET /myaccount HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        try #require(send(fd, request, request.count, 0) == request.count)
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = recv(fd, &buffer, buffer.count, 0)
        return String(decoding: buffer.prefix(max(0, count)), as: UTF8.self).components(separatedBy: "\r\n")[0]
    }

    /// ``statusLine(port:)`` on up to three connections, until one is answered `200 OK`: a
    /// server with a short idle timeout, on a machine (or in a test process) starved for longer
    /// than that timeout, can close a connection before reading its request. What the callers
    /// check is that the server still serves. Each waits up to 30 seconds for its answer: a full
    /// parallel test run has starved an in-process server for longer than 3 × 5 seconds.
    public static func statusLineRetrying(port: Int) throws -> String {
        var answer = ""
        for _ in 0..<3 where answer != "HTTP/1.1 200 OK" { answer = try statusLine(port: port, wait: 30) }
        return answer
    }

    /// Sends `bytes` as they are (a request an HTTP client library would refuse to send) and
    /// returns everything the server answers until it closes the connection or `wait` seconds
    /// pass (long: a full parallel test run can starve the server for seconds, and a server
    /// that closes as it should costs no wait). With `next`, the first answer is read whole before `next` is sent on the same
    /// connection.
    public static func exchange(port: Int, bytes: String, then next: String? = nil, wait: Int = 30) throws -> String {
        try exchangeToClose(port: port, bytes: bytes, then: next, wait: wait).answer
    }

    /// Sends `bytes`, then shuts down the sending half of the connection (`shutdown(SHUT_WR)`,
    /// as `nc -N` does), and returns everything the server answers until it closes, with
    /// whether it did.
    public static func exchangeHalfClosing(port: Int, bytes: String, wait: Int = 30) throws -> (answer: String, closedByServer: Bool) {
        try exchangeToClose(port: port, bytes: bytes, wait: wait, halfClose: true)
    }

    /// ``exchange(port:bytes:then:wait:)``, saying too whether the server closed the connection
    /// (the client read the end of the stream) rather than `wait` running out. Against a server
    /// whose idle timeout is longer than `wait`, that tells "closed after its answer" from "kept
    /// open" however long a loaded machine starves the server: no clock is read.
    public static func exchangeToClose(port: Int, bytes: String, then next: String? = nil, wait: Int = 30, halfClose: Bool = false) throws -> (answer: String, closedByServer: Bool) {
        let (answer, ending) = try exchangeToEnd(port: port, bytes: bytes, then: next, wait: wait, halfClose: halfClose)
        return (answer, ending != .waitedOut)
    }

    /// How the server ended a connection: an orderly close (the client read the end of the
    /// stream), a reset (which may have destroyed an answer not yet read), or not within the wait.
    public enum Ending: Sendable, Equatable { case closed, reset, waitedOut }

    /// ``exchangeToClose(port:bytes:then:wait:halfClose:)``, telling an orderly close from a reset.
    public static func exchangeToEnd(port: Int, bytes: String, then next: String? = nil, wait: Int = 30, halfClose: Bool = false) throws -> (answer: String, ending: Ending) {
        let fd = try connection(port: port, wait: wait)
        defer { close(fd) }
        func write(_ text: String) throws {
            let request = Array(text.utf8)
            try #require(send(fd, request, request.count, 0) == request.count)
        }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        /// Reads until `done` says the answer so far is enough, the server closes, or time runs out.
        var ending = Ending.waitedOut
        func read(until done: ([UInt8]) -> Bool) {
            while !done(answer) {
                let count = recv(fd, &buffer, buffer.count, 0)
                if count == 0 { ending = .closed }
                if count < 0 && errno == ECONNRESET { ending = .reset }
                if count <= 0 { return }
                answer += buffer.prefix(count)
            }
        }
        try write(bytes)
        if let next {
            read { answer in
                let text = String(decoding: answer, as: UTF8.self)
                guard let end = text.range(of: "\r\n\r\n") else { return false }
                let length = text[..<end.lowerBound].split(separator: "\r\n")
                    .first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                return text[end.upperBound...].utf8.count >= length
            }
            try write(next)
        }
        if halfClose { try #require(shutdown(fd, Int32(SHUT_WR)) == 0) }
        read { _ in false }
        return (String(decoding: answer, as: UTF8.self), ending)
    }

    /// Sends request headers without the blank line that ends them, then waits up to `wait`
    /// seconds for the server to close the connection.
    public static func partialRequest(port: Int, wait: Int) throws -> Outcome {
        let fd = try connection(port: port, wait: wait)
        defer { close(fd) }
        let partial = Array("GET /myaccount HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slow".utf8)
        try #require(send(fd, partial, partial.count, 0) == partial.count)
        let start = ContinuousClock.now
        var byte: UInt8 = 0
        let received = recv(fd, &byte, 1, 0)
        let failure = errno
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        // EOF (0) or a reset is the server closing; -1 with EAGAIN is our own wait running out.
        return Outcome(closedByServer: received == 0 || (received < 0 && failure == ECONNRESET), seconds: seconds)
    }

}
