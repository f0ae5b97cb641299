import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// Refuses request heads whose framing RFC 9112 says a server must not trust, which the HTTP
/// parser lets through: more than one `Host` header, one whose value is no host, or none in
/// HTTP/1.1 (§3.2), `Transfer-Encoding` in an HTTP/1.0 request (§6.1), and any transfer coding
/// but `chunked` alone (`gzip, chunked` would have its gzip ignored, `identity` is no coding any
/// more). Each is a place where a proxy in front and this server could see different requests.
/// It also answers CONNECT, which no target here serves, with 501 (``Refusal/tunnel``).
///
/// It sits before the codec that drops the HTTP version (put there by ``HTTP1Installer``). A
/// refused head is not passed on; a ``Refusal`` goes down the pipeline instead, which
/// ``MalformedRequestHandler`` answers as any unreadable request: JSON 400
/// `malformed_request` naming the problem, after the answers owed, then the connection closes.
/// Everything after it on the connection is dropped.
final class RequestFraming: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    /// What is wrong with a request head, for the 400's message; or a method this server does
    /// not serve for any target (``Refusal/tunnel``).
    struct Refusal: Error {
        var message: String
        var unsupportedMethod = false

        /// CONNECT asks for a tunnel, which only a proxy makes (RFC 9110 §9.3.6): 501, since no
        /// target here accepts it, and the connection closes after the answer (the bytes after
        /// a CONNECT belong to its tunnel). swift-nio frames every answer to CONNECT without a
        /// body or a length, so a client reads it until the connection closes: routed as a path
        /// by Hummingbird, on a connection kept open, it waited for the idle timeout.
        static let tunnel = Refusal(
            message: "CONNECT asks for a tunnel through a proxy, and this server is not a proxy", unsupportedMethod: true)
    }

    private var refused = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if refused { return }
        if case .head(let head) = unwrapInboundIn(data), let refusal = Self.refusal(head) {
            refused = true
            context.fireErrorCaught(refusal)
            return
        }
        context.fireChannelRead(data)
    }

    static func refusal(_ head: HTTPRequestHead) -> Refusal? {
        if head.method == .CONNECT { return .tunnel }
        return problem(head).map { Refusal(message: $0) }
    }

    static func problem(_ head: HTTPRequestHead) -> String? {
        let hosts = head.headers["host"]
        if hosts.count > 1 { return "the request has \(hosts.count) Host headers; HTTP allows one" }
        if head.version == .http1_1 && hosts.isEmpty { return "the request has no Host header, which HTTP/1.1 requires" }
        // Whitespace around a field's value is not part of it (RFC 9112 §5); the parser drops only the leading.
        if let host = hosts.first, !isHost(host.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))) { return "the request's Host header is not a host name or address with an optional port" }
        let codings = head.headers["transfer-encoding"]
        guard !codings.isEmpty else { return nil }
        if head.version == .http1_0 { return "the request is HTTP/1.0 with a Transfer-Encoding, which HTTP/1.0 does not have" }
        let list = codings.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        guard list == ["chunked"] else {
            return "the request's Transfer-Encoding is '\(codings.joined(separator: ", ").prefix(64))'; this server reads only 'chunked', or a Content-Length"
        }
        return nil
    }

    /// RFC 9112 §3.2: `uri-host [ ":" port ]` (RFC 3986 §3.2.2): a name of unreserved
    /// characters, sub-delimiters and percent-escapes, an IPv4 address, or an IP literal in
    /// brackets; a port of digits. Empty is allowed (a target without an authority).
    static func isHost(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        var host = bytes[...], port: ArraySlice<UInt8> = []
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            host = bytes[1..<close]
            let rest = bytes[(close + 1)...]
            if let first = rest.first {
                guard first == UInt8(ascii: ":") else { return false }
                port = rest.dropFirst()
            }
            // An IPv6 address, or an IPvFuture (`v1.fe`): hex digits, ':', '.', and what a name has.
            guard host.allSatisfy({ isRegNameByte($0) || $0 == UInt8(ascii: ":") }) else { return false }
        } else {
            if let colon = bytes.lastIndex(of: UInt8(ascii: ":")) {
                host = bytes[..<colon]
                port = bytes[(colon + 1)...]
            }
            var index = host.startIndex
            while index < host.endIndex {
                let byte = host[index]
                if byte == UInt8(ascii: "%") {
                    guard index + 2 < host.endIndex, isHexDigit(host[index + 1]), isHexDigit(host[index + 2]) else { return false }
                    index += 3
                    continue
                }
                guard isRegNameByte(byte) else { return false }
                index += 1
            }
        }
        return port.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
    }

    /// Unreserved characters and sub-delimiters (RFC 3986 §2.2, §2.3).
    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "-._~!$&'()*+,;=".utf8.contains(byte)
        }
    }
}

/// Added by Hummingbird after the HTTP/1 codec (where its additional handlers go); puts
/// ``RequestFraming`` and ``HTTP10Close`` before the codec, which drops the version, then takes
/// itself out.
final class HTTP1Installer: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func handlerAdded(context: ChannelHandlerContext) {
        let pipeline = context.pipeline.syncOperations
        if let codec = try? pipeline.handler(type: HTTP1ToHTTPServerCodec.self) {
            try? pipeline.addHandler(RequestFraming(), position: .before(codec))
            try? pipeline.addHandler(HTTP10Close(), position: .before(codec))
        }
        pipeline.removeHandler(context: context, promise: nil)
    }
}
