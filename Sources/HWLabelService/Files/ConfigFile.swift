import Foundation
import HWLabelCore
import HWLabelProbe

/// Reading and writing the text files under the config directory (`labels.conf`,
/// `policy.conf`, `passthrough.conf`), each failure a `ConfigError` naming the file.
enum ConfigFile {
    /// The file's text; nil when it does not exist. Read through `BoundedFile`: a FIFO, a device
    /// or a directory where the file is meant is refused at once, and so is a file over `limit`
    /// or one that is not UTF-8.
    static func readTextIfPresent(_ path: String, limit: Int) throws(ConfigError) -> String? {
        let bytes: [UInt8]?
        do { bytes = try BoundedFile.readIfPresent(path, limit: limit) } catch {
            throw ConfigError(path: path, message: "cannot read: \(error.reasonText)")
        }
        guard let bytes else { return nil }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(path: path, message: "not UTF-8 text; fix or remove the file (it was left untouched)")
        }
        return text
    }

    static func makeDirectory(_ directory: String) throws(ConfigError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(path: directory, message: "cannot create directory: \(error.localizedDescription)")
        }
    }

    /// temp file in the same directory → write → fsync → rename → fsync(directory) (`AtomicFile`).
    static func writeText(_ text: String, to path: String) throws(ConfigError) {
        do throws(AtomicFile.Failure) {
            try AtomicFile.write(Array(text.utf8), to: path)
        } catch {
            throw ConfigError(path: path, message: error.description)
        }
    }
}
