import NIOCore
import NIOHTTP1

/// Closes an HTTP/1.0 connection after its answer unless the request asked to keep it alive
/// (RFC 9112 §9.3), as such a client (ApacheBench without `-k`, simple probes) waits for the
/// close to know the answer is complete; and drops an HTTP/1.0 request's `Expect`, so that
/// no `100 Continue` is sent to a client that does not know interim answers.
///
/// The codec that turns HTTP/1 into version-independent HTTP types drops the version, and the
/// server keeps a connection open unless the request says `Connection: close`. So this handler
/// sits before that codec and adds `Connection: close` to an HTTP/1.0 request that is not
/// keep-alive. It is put there by ``HTTP1Installer``. The answer to an HTTP/1.0 request that
/// is kept alive says `Connection: keep-alive`: without it such a client (`ab -k`) takes the
/// connection for closing and reads until the idle timeout ends it.
final class HTTP10Close: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// For each request not answered yet, in order: whether it is HTTP/1.0 kept alive.
    private var keptAlive: [Bool] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .head(var head) = unwrapOutboundIn(data), head.status.code >= 200, !keptAlive.isEmpty {
            if keptAlive.removeFirst(), !head.headers.contains(name: "connection") {
                head.headers.add(name: "connection", value: "keep-alive")
                context.write(wrapOutboundOut(.head(head)), promise: promise)
                return
            }
        }
        context.write(data, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) { keptAlive.append(head.version == .http1_0 && head.isKeepAlive) }
        if case .head(var head) = unwrapInboundIn(data), head.version == .http1_0 {
            if !head.isKeepAlive { head.headers.replaceOrAdd(name: "connection", value: "close") }
            // RFC 9110 §10.1.1: a server ignores an HTTP/1.0 request's 100-continue, and §15.2:
            // sends such a client no 1xx answer, which it would take for the final one.
            head.headers.remove(name: "expect")
            context.fireChannelRead(wrapInboundOut(.head(head)))
            return
        }
        context.fireChannelRead(data)
    }
}
