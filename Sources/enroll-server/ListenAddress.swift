import EnrollCommandLine
import Enrollment
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where the server is asked to listen, checked before the database is opened: the host must
/// resolve (getaddrinfo(3), as swift-nio resolves it: the first address) and the port must be
/// free to bind. swift-nio reports both failures in its own words (`UnknownHost`,
/// `bind(descriptor:ptr:bytes:): Address already in use) (errno: 98)`) only once the database
/// and key file exist; this names the option at fault first, and writes nothing.
enum ListenAddress {
    /// A failure to report, or `nil` when a socket binds there (the server binds it again, so a
    /// port taken in between is still reported, in swift-nio's words).
    static func problem(host: String, port: Int) -> CLIFailure? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var addresses: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &addresses)
        guard resolved == 0, let first = addresses else {
            let reason = String(cString: gai_strerror(resolved))
            return CLIFailure.usage(
                "--host '\(Validation.excerpt(host, limit: 80))' is not a valid address or a name this machine resolves (\(reason)); pass an IP address such as 127.0.0.1, ::1 or 0.0.0.0 (all interfaces)")
        }
        defer { freeaddrinfo(addresses) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        // As swift-nio's server bootstrap does, so that a port in TIME_WAIT is not taken for one in use.
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 else { return nil }
        let failure = errno
        let place = "\(host.contains(":") ? "[\(host)]" : host):\(port)"
        let message = switch failure {
        case EADDRINUSE:
            "cannot listen on \(place): the port is already in use; pick another --port (0: any free port) or stop what uses it"
        case EADDRNOTAVAIL:
            "cannot listen on \(place): no network interface of this machine has the address \(host); pass --host with one of its addresses (127.0.0.1, or 0.0.0.0 for all)"
        case EACCES:
            "cannot listen on \(place): ports below 1024 need privileges; pick a --port from 1024 up"
        default:
            "cannot listen on \(place) (\(String(cString: strerror(failure)))); check --host and --port"
        }
        return CLIFailure(code: "serve_failed", message: message, exitCode: CLIExit.environment)
    }
}
