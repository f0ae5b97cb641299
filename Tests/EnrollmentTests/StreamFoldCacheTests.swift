import Foundation
import GRDB
import OneTimePassword
import Testing
import TestSupport
@testable import Enrollment

/// A long-running service folds a long stream on from where it last folded it, and never
/// trusts that fold once the journal underneath is not the one it was folded from.
struct StreamFoldCacheTests {
    let t0: UnixTime = 1_764_400_000

    func service(_ workspace: Workspace) throws -> EnrollmentService {
        try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: FixedClock(t0),
            secrets: SeededSecretSource(seed: "fold-cache"))
    }

    /// A user enrolled, then shown the QR code again `reveals` times: a stream of 2 + `reveals` events.
    func longStream(_ service: EnrollmentService, user: String, reveals: Int) throws {
        let issued = try service.handle(CommandEnvelope(user: user, command: .requestEnrollment(EnrollmentOptions())))
        let secret = try #require(issued.state.pending?.credential.secret.secret)
        let code = try TOTP.code(secret: secret.bytes, at: t0)
        #expect(try service.handle(CommandEnvelope(user: user, command: .confirmCode(code))).accepted)
        for _ in 0..<reveals { #expect(try service.handle(CommandEnvelope(user: user, command: .revealQRCode)).accepted) }
    }

    @Test("a long stream's state is kept between commands and equals a fold from the start, also after another process appended")
    func keptAndEqual() throws {
        let workspace = try Workspace()
        let server = try service(workspace)
        try longStream(server, user: "long", reveals: 100)
        try longStream(server, user: "short", reveals: 3)
        let loaded = try server.load("long")
        #expect(loaded.version == 102)
        #expect(server.folds.entry(for: "long")?.state.version == 102, "the fold of 102 events is kept")
        #expect(server.folds.entry(for: "short") == nil, "a short stream is folded afresh each time")
        // Another process (another service on the same file) appends: the kept fold goes on from it.
        let other = try service(workspace)
        #expect(try other.handle(CommandEnvelope(user: "long", command: .regenerateSecret(nil))).accepted)
        let after = try server.load("long")
        #expect(after == (try service(workspace).load("long")), "the kept fold plus the new event equals a fold from the start")
        #expect(after.pending?.isReplacement == true && server.folds.entry(for: "long")?.state.version == 103)
    }

    @Test("a kept fold whose last event is no longer where it was (a journal restored or rewritten underneath) is dropped and the stream folded from the start")
    func replacedUnderneath() throws {
        let workspace = try Workspace()
        let server = try service(workspace)
        try longStream(server, user: "long", reveals: 100)
        _ = try server.load("long")
        #expect(server.folds.entry(for: "long")?.state.version == 102)
        // The last 20 events disappear (a backup restored while the server runs).
        _ = try SQLite3.query(workspace.database, "DELETE FROM events WHERE stream_id = 'long' AND stream_version > 82")
        let restored = try server.load("long")
        #expect(restored.version == 82, "folded from the start, not from the kept version 102")
        #expect(restored == (try service(workspace).load("long")))
        // Same versions, other events: the kept fold's last event has another position now.
        _ = try SQLite3.query(workspace.database, "UPDATE events SET position = position + 1000 WHERE stream_id = 'long' AND stream_version = 82")
        #expect(try server.load("long") == (try service(workspace).load("long")))
        let moved = Int64(try SQLite3.query(workspace.database, "SELECT position FROM events WHERE stream_id = 'long' AND stream_version = 82"))
        #expect(moved != nil && server.folds.entry(for: "long")?.position == moved, "kept again from the refold")
    }

    @Test("a journal rewritten underneath with every hash recomputed (a forger's edit of an earlier event) is folded from the start: the kept fold is checked against the chained hash")
    func rewrittenWithHashesRecomputed() throws {
        let workspace = try Workspace()
        let server = try service(workspace)
        try longStream(server, user: "long", reveals: 70)
        #expect(try server.load("long").active?.parameters.digits == 6)
        #expect(server.folds.entry(for: "long") != nil)
        // The user's first event now says 8 digits, and every hash from it on is recomputed.
        var text = ""
        _ = try JournalArchive.export(from: server.database.writer) { text += $0 }
        var rows = try ExportText.rows(text)
        try #require(rows[0].streamId == "long" && rows[0].data.contains(#""digits":6"#))
        rows[0].data = rows[0].data.replacingOccurrences(of: #""digits":6"#, with: #""digits":8"#)
        FixtureTests.rechain(&rows)
        let editor = try DatabaseQueue(path: workspace.database)
        try editor.write { db in
            for row in rows { try db.execute(sql: "UPDATE events SET data = ?, hash = ? WHERE position = ?", arguments: [row.data, Data(row.hash), row.position]) }
        }
        try editor.close()
        let loaded = try server.load("long")
        #expect(loaded.active?.parameters.digits == 8, "the server folded the rewritten journal, not its kept fold")
        #expect(loaded == (try service(workspace).load("long")))
    }
}
