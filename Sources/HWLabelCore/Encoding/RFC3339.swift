import Foundation

/// `date` as RFC 3339 UTC with second precision, `2026-11-21T08:16:05Z` (fractions of a second
/// dropped, rounding toward the past): every timestamp hwlabel writes (reports, inventories,
/// status, NFD expiry). gmtime_r rather than ISO8601DateFormatter, which loads ICU's data.
public func rfc3339(_ date: Date) -> String {
    var t = time_t(date.timeIntervalSince1970.rounded(.down))
    var tm = tm()
    gmtime_r(&t, &tm)
    return String(
        format: "%04ld-%02ld-%02ldT%02ld:%02ld:%02ldZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
        Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
}
