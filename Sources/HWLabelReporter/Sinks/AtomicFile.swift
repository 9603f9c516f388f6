import Foundation
import HWLabelProbe

/// The reporter writes `Data`; the one atomic writer (temporary dot-file in the same directory,
/// fsync, rename, fsync of the directory) lives in HWLabelProbe.
extension AtomicFile {
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws(AtomicFile.Failure) {
        try write([UInt8](data), to: path, mode: mode)
    }
}
