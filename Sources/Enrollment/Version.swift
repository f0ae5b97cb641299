/// What `enroll --version` and `rebuild-projections --version` print: the release, and the
/// schemas this code reads and writes, which errors about "a newer version of enroll" name.
public enum EnrollmentVersion {
    public static let release = "1.0.0"

    /// "1.0.0 (journal schema v3-command-arguments; projections authenticators v4, enrollment_activity v2)"
    public static var description: String {
        let projections = Projections.all.map { "\($0.name) v\($0.schemaVersion)" }.joined(separator: ", ")
        return "\(release) (journal schema \(EnrollmentDatabase.currentSchema); projections \(projections))"
    }
}
