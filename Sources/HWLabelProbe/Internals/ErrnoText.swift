#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#else
import Darwin
#endif

/// The one way an errno reaches a message: `strerror` text, then the number, e.g.
/// `Permission denied (errno 13)`. Every module formats errno through here.
public enum ErrnoText {
    public static func describe(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}
