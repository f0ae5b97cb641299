PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
INSERT INTO grdb_migrations VALUES('v1-journal');
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    event_id TEXT NOT NULL UNIQUE,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL,
    recorded_at INTEGER NOT NULL,
    hash BLOB NOT NULL,
    UNIQUE (stream_id, stream_version)
);
INSERT INTO events VALUES(1,'alice',1,'96cc2923-cec7-4f6b-a2eb-e6f884225906','EnrollmentRequested',1,'{"account":"alice","algorithm":"SHA1","digits":6,"expiresAt":1764422176,"issuer":"ACME","period":30,"sealedSecret":"O+xg/0tS5E1xGayy6f+jdvPD3A7wox8/+zsVmkHjhjJwoierxgVCyFvHpORbwtPN"}','{"actor":"alice","commandId":"49b9a97d-b6dd-43ba-a38e-6891edfcc0a0"}',1764421576,X'02d8b684020d1e4195c5d5ea0df29479b35f5e0a753dc50e03f26949b132e9c6');
INSERT INTO events VALUES(2,'alice',2,'6ae3f915-fa71-4d4e-89be-742956064930','CodeRejected',1,'{"failedAttempts":1,"reason":"invalid_code","target":"pending"}','{"actor":"alice","commandId":"bac2f94c-1b30-4dd6-988c-8f5cd92b4072"}',1764421586,X'f084d64285fbf33c904cc0f6b39ea2cc6973a1274bdc8a3b921f64f5a203a646');
INSERT INTO events VALUES(3,'alice',3,'c26aca0d-54d7-4c71-a532-33e687eafb74','QRCodeRevealed',1,'{"target":"pending"}','{"actor":"alice","commandId":"b5dee891-b4aa-4dd7-80aa-f2b1ce1baaa5"}',1764421596,X'9bb4768ade2f653f5a23c2dcc5b05e26c435278c0fdd626a8c8141ccc91b7090');
INSERT INTO events VALUES(4,'alice',4,'377098a9-18b2-41f2-a8df-6406bae656db','AuthenticatorActivated',1,'{"replacedPrevious":false,"step":58814053}','{"actor":"alice","commandId":"8ebf7f19-1505-4b5c-aa5c-ad01ac60e923"}',1764421606,X'53a6b4ab8217c373bc11634bca13275cd90ba779ddb8eb3311cc50717cd5ab1a');
INSERT INTO events VALUES(5,'bob',1,'de11f35c-c8f2-4cc5-ad5c-f82510201192','EnrollmentRequested',1,'{"account":"bob","algorithm":"SHA256","digits":8,"expiresAt":1764422216,"issuer":"ACME","period":30,"sealedSecret":"qoKog9U/o53rsyYUV8A0j4N+M22VHlVyym33VBZDOX9GscE1ieMcNB9/IWk6IFi7"}','{"actor":"bob","commandId":"942bb3ea-acc1-4d9a-8017-fe79ab23ccb3"}',1764421616,X'cf093754dae8840b20c90fba1a20b8d8f2fb738579faeac4996a3f87213774ae');
INSERT INTO events VALUES(6,'bob',2,'c06cd36b-7428-4777-8f49-8d2162fa3d20','CodeRejected',1,'{"failedAttempts":1,"reason":"invalid_code","target":"pending"}','{"actor":"bob","commandId":"24e92bf9-6d2f-4771-b0d2-27947fc72738"}',1764421626,X'dae47ad73a91f39c6fb877fe8134ffd727c27d2e8ffba7d5d0a736fd639e3196');
INSERT INTO events VALUES(7,'bob',3,'7df8822f-b302-4cd4-87cd-2381b1a110d2','CodeRejected',1,'{"failedAttempts":2,"reason":"invalid_code","target":"pending"}','{"actor":"bob","commandId":"16a603dd-8c13-4f18-aec0-f04f85e9dcc6"}',1764421636,X'1ca53ca09a5f32328abf713e6f6cf8f31e2ac7725c8e9dcfac209f2e7ba7c786');
INSERT INTO events VALUES(8,'carol',1,'3dfa52a6-47ef-4b8e-89cf-85c5616485eb','EnrollmentRequested',1,'{"account":"carol","algorithm":"SHA1","digits":6,"expiresAt":1764422277,"issuer":"Globex","period":30,"sealedSecret":"oBVXF/l6UyuqqL4q6MGV3GA1rSOmvaTuFQNjGMebT1MA+w9QE5vqtLDrR6DceAhE"}','{"actor":"carol","commandId":"4e6697a5-0a60-40ae-b0ed-80febeeae723"}',1764421677,X'60189abd7e0e7e31dee439e323d8c2a68f7a033f475f47ecd6562399d1b23ea1');
INSERT INTO events VALUES(9,'carol',2,'cf990f50-8219-4027-9cf9-277507152140','EnrollmentRequested',1,'{"account":"carol","algorithm":"SHA1","digits":6,"expiresAt":1764422278,"issuer":"Globex","period":30,"sealedSecret":"KVkm4ecEYrLoZaKaT9A6a/3fdny6MZIZ3Mq+ke2qb4xE52esEKS9RIjsXJ3sTYqI"}','{"actor":"carol","commandId":"2a0c4ac2-dc56-4101-a9f5-f7074f70c17f"}',1764421678,X'99786d105be7946424fe89fdd4dc402780ad087105be1a8509ebc59687b3006e');
INSERT INTO events VALUES(10,'carol',3,'4d62c905-4d9c-4046-8df6-9733cf2ff7c1','EnrollmentRequested',1,'{"account":"carol","algorithm":"SHA1","digits":6,"expiresAt":1764422279,"issuer":"Globex","period":30,"sealedSecret":"QecvZ99VwAEJ8JtE6mpxK4TUHzSMnXCMPv3DCKfPlQiCdcvBo4LsnqKI3eQKuP3H"}','{"actor":"carol","commandId":"5a1c86a4-6eb4-4b2b-af0d-becbecfce412"}',1764421679,X'897099c174f4b0ecddfebc5ab254d5948b7b3a4c1e9b66b081cd0a6afde4e20e');
INSERT INTO events VALUES(11,'carol',4,'72a42604-76a7-4199-b5d1-25cfb11c8b2d','EnrollmentRequested',1,'{"account":"carol","algorithm":"SHA1","digits":6,"expiresAt":1764422280,"issuer":"Globex","period":30,"sealedSecret":"JvX2zVz9W9fjvJPSo4C6HSvYTagAKi0U+isj5ypDvHCtt+pCoMS7m2IiDsm07CL1"}','{"actor":"carol","commandId":"1ec3f481-37f0-4ae3-96c5-ad6acb145659"}',1764421680,X'8e9cde8928b978c80ad37a990d76ebadf42298aa5b80b955a7c46c5ef1e35ba0');
INSERT INTO events VALUES(12,'carol',5,'ebd20eea-e4fb-4e01-97a4-c38544fda825','EnrollmentRequested',1,'{"account":"carol","algorithm":"SHA1","digits":6,"expiresAt":1764422281,"issuer":"Globex","period":30,"sealedSecret":"ZgkH/UX/T+I+OT/pbq+nRn2kCYGNy5hOnzw80FKaSV3VQIUAfRc3W5ItdwGo9kXI"}','{"actor":"carol","commandId":"e8cb138c-6214-41aa-a6c5-0964493aa3b2"}',1764421681,X'2af3695898d945cf483a2b535a6a8ab9814b477bd6919c2a8926f9c717a0ffb5');
INSERT INTO events VALUES(13,'carol',6,'dd482812-ad63-4276-be07-02ede047db7d','CodeRejected',1,'{"failedAttempts":1,"reason":"invalid_code","target":"pending"}','{"actor":"carol","commandId":"5822aab2-631e-419a-9b22-b375c1cef680"}',1764421777,X'510cfa3cbf9c9a4a779fb3d273fcb8d67ebbe18d1590564178540b826a2f4a6f');
INSERT INTO events VALUES(14,'carol',7,'ca8e4ca9-ea45-4275-a171-de64a05bb7b6','CodeRejected',1,'{"failedAttempts":2,"reason":"invalid_code","target":"pending"}','{"actor":"carol","commandId":"1fb787e4-3ae8-46d0-adff-947fc717c16e"}',1764421778,X'bf36188accf8f04af000337475c3b2f79657091155d1ad1926ae8d85429cd38b');
INSERT INTO events VALUES(15,'carol',8,'d2058ca4-1448-4080-aeef-4f03699a966c','CodeRejected',1,'{"failedAttempts":3,"reason":"invalid_code","target":"pending"}','{"actor":"carol","commandId":"7d8da93a-c756-42e2-9ed3-4e2603926a05"}',1764421779,X'e1ccff15666bd73d4072d16c5a96523769272af0b1cceafd8b97a5ff1b32e13c');
INSERT INTO events VALUES(16,'carol',9,'19e08616-67d7-4c6a-8d98-62212c218748','CodeRejected',1,'{"failedAttempts":4,"reason":"invalid_code","target":"pending"}','{"actor":"carol","commandId":"9954a816-3952-4a10-bad8-db5f6d3a22bd"}',1764421780,X'4a8ee1f722b1f8db48c6c5e4596db4a40f33d1fbe376ca566d22af26e6b2e55a');
INSERT INTO events VALUES(17,'carol',10,'32d02213-ceb1-4cb5-b0e4-d1a54961c7c4','CodeRejected',1,'{"failedAttempts":5,"reason":"invalid_code","target":"pending"}','{"actor":"carol","commandId":"bb070841-b7d8-44ef-a428-616ea5849c22"}',1764421781,X'bc254ecbb3ab20bdd5706dafcf72376848a24c214eb6fa43710b93f1cd356547');
INSERT INTO events VALUES(18,'carol',11,'72f3f89c-847b-45df-9e2d-abf030629cf6','ConfirmationLocked',1,'{"failedAttempts":5,"lockNumber":1,"until":1764422681}','{"actor":"carol","commandId":"bb070841-b7d8-44ef-a428-616ea5849c22"}',1764421781,X'b5a91e0e4904c2dbc7a73afbe7771851647147c4a45aba0de675830b16ce7e5c');
INSERT INTO events VALUES(19,'dave',1,'24b88078-ee2a-485a-84c1-58a0be0aca19','EnrollmentRequested',1,'{"account":"dave","algorithm":"SHA1","digits":6,"expiresAt":1764422476,"issuer":"Enrollment","period":30,"sealedSecret":"QSkLgYd1XFXXQhBGwfh0in0i2wsSdRXRVqpi1F9i78F9eObUnErgp2fb4eyHnZI1"}','{"actor":"dave","commandId":"faa8bcdd-60f2-4b80-a9e8-d9e8a6eaafc9"}',1764421876,X'eeabd96342d50e5e7d568ce5db2ac1f6138793f9fb86889754d8e55d81ba65e8');
INSERT INTO events VALUES(20,'dave',2,'697404d9-d8f9-4d49-946a-b563d94e4f3b','CodeRejected',1,'{"failedAttempts":1,"reason":"invalid_code","target":"pending"}','{"actor":"dave","commandId":"4955f17d-5eab-414e-bc04-3ba95771220f"}',1764421886,X'e741c94d1d223715affdc26018b2ea94208df86935acfbbadd326f10506263d6');
INSERT INTO events VALUES(21,'dave',3,'507e5f5a-28f1-4f04-a860-7d97ef876bd5','AuthenticatorRemoved',1,'{"hadActive":false}','{"actor":"dave","commandId":"97ce3ccd-8029-4ee0-a628-3762ca010ded"}',1764421896,X'07766eb82126f7467da8343af6490f17400dbc14adb3fc45890a1bc50af0e468');
CREATE TABLE commands (
    command_id TEXT PRIMARY KEY,
    stream_id TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    command TEXT NOT NULL,
    rejection TEXT,
    handled_at INTEGER NOT NULL
);
INSERT INTO commands VALUES('49b9a97d-b6dd-43ba-a38e-6891edfcc0a0','alice',1,'RequestEnrollment',NULL,1764421576);
INSERT INTO commands VALUES('bac2f94c-1b30-4dd6-988c-8f5cd92b4072','alice',2,'ConfirmCode','{"remainingAttempts":4,"code":"invalid_code"}',1764421586);
INSERT INTO commands VALUES('b5dee891-b4aa-4dd7-80aa-f2b1ce1baaa5','alice',3,'RevealQR',NULL,1764421596);
INSERT INTO commands VALUES('8ebf7f19-1505-4b5c-aa5c-ad01ac60e923','alice',4,'ConfirmCode',NULL,1764421606);
INSERT INTO commands VALUES('942bb3ea-acc1-4d9a-8017-fe79ab23ccb3','bob',1,'RequestEnrollment',NULL,1764421616);
INSERT INTO commands VALUES('24e92bf9-6d2f-4771-b0d2-27947fc72738','bob',2,'ConfirmCode','{"code":"invalid_code","remainingAttempts":4}',1764421626);
INSERT INTO commands VALUES('16a603dd-8c13-4f18-aec0-f04f85e9dcc6','bob',3,'ConfirmCode','{"remainingAttempts":3,"code":"invalid_code"}',1764421636);
INSERT INTO commands VALUES('4e6697a5-0a60-40ae-b0ed-80febeeae723','carol',1,'RequestEnrollment',NULL,1764421677);
INSERT INTO commands VALUES('2a0c4ac2-dc56-4101-a9f5-f7074f70c17f','carol',2,'RequestEnrollment',NULL,1764421678);
INSERT INTO commands VALUES('5a1c86a4-6eb4-4b2b-af0d-becbecfce412','carol',3,'RequestEnrollment',NULL,1764421679);
INSERT INTO commands VALUES('1ec3f481-37f0-4ae3-96c5-ad6acb145659','carol',4,'RequestEnrollment',NULL,1764421680);
INSERT INTO commands VALUES('e8cb138c-6214-41aa-a6c5-0964493aa3b2','carol',5,'RequestEnrollment',NULL,1764421681);
INSERT INTO commands VALUES('5822aab2-631e-419a-9b22-b375c1cef680','carol',6,'ConfirmCode','{"code":"invalid_code","remainingAttempts":4}',1764421777);
INSERT INTO commands VALUES('1fb787e4-3ae8-46d0-adff-947fc717c16e','carol',7,'ConfirmCode','{"remainingAttempts":3,"code":"invalid_code"}',1764421778);
INSERT INTO commands VALUES('7d8da93a-c756-42e2-9ed3-4e2603926a05','carol',8,'ConfirmCode','{"code":"invalid_code","remainingAttempts":2}',1764421779);
INSERT INTO commands VALUES('9954a816-3952-4a10-bad8-db5f6d3a22bd','carol',9,'ConfirmCode','{"remainingAttempts":1,"code":"invalid_code"}',1764421780);
INSERT INTO commands VALUES('bb070841-b7d8-44ef-a428-616ea5849c22','carol',11,'ConfirmCode','{"code":"locked","until":1764422681}',1764421781);
INSERT INTO commands VALUES('faa8bcdd-60f2-4b80-a9e8-d9e8a6eaafc9','dave',1,'RequestEnrollment',NULL,1764421876);
INSERT INTO commands VALUES('4955f17d-5eab-414e-bc04-3ba95771220f','dave',2,'ConfirmCode','{"remainingAttempts":4,"code":"invalid_code"}',1764421886);
INSERT INTO commands VALUES('97ce3ccd-8029-4ee0-a628-3762ca010ded','dave',3,'RemoveAuthenticator',NULL,1764421896);
CREATE TABLE data_keys (
    stream_id TEXT PRIMARY KEY,
    wrapped_key BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
INSERT INTO data_keys VALUES('alice',X'759417083e57297cdd6d5e0712c961c5e151b25e3cb4a6a2eb708a1bfe87f2bd4fa65ff9e165f275ce409bcd43e2ec5bd5d6ac2f509482abd650427e',1764421576);
INSERT INTO data_keys VALUES('bob',X'35f7f84160c3cc1c15054e72df39d4206417e87e4b852887224adb0ae4bd5407814f084c849fdd71026465715c4dc9d3f61981023855139b1ec89a67',1764421616);
INSERT INTO data_keys VALUES('carol',X'86018d56aab8e1dce09d21f8c996a62ded0ed3276a8be63932f8212b6bf551a567fe87bedd36190bf6d6074e929b70d84d4e453c0f3a6b066dc635d2',1764421677);
CREATE TABLE key_check (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    key_id BLOB NOT NULL
);
INSERT INTO key_check VALUES(1,X'a2309527ed297177e67c3c7873eb4bfe');
CREATE TABLE projection_checkpoints (
    name TEXT PRIMARY KEY,
    schema_version INTEGER NOT NULL,
    position INTEGER NOT NULL
);
INSERT INTO projection_checkpoints VALUES('authenticators',1,21);
INSERT INTO projection_checkpoints VALUES('enrollment_activity',1,21);
CREATE TABLE IF NOT EXISTS "authenticators" (
    user_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    issuer TEXT,
    account TEXT,
    algorithm TEXT,
    digits INTEGER,
    period INTEGER,
    replacement_pending INTEGER NOT NULL DEFAULT 0,
    pending_issuer TEXT,
    pending_account TEXT,
    pending_algorithm TEXT,
    pending_digits INTEGER,
    pending_period INTEGER,
    pending_expires_at INTEGER,
    requested_at INTEGER,
    activated_at INTEGER,
    last_revealed_at INTEGER,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    lock_count INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    stream_version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
INSERT INTO authenticators VALUES('alice','active','ACME','alice','SHA1',6,30,0,NULL,NULL,NULL,NULL,NULL,NULL,1764421576,1764421606,1764421596,0,0,NULL,4,1764421606);
INSERT INTO authenticators VALUES('bob','pending',NULL,NULL,NULL,NULL,NULL,0,'ACME','bob','SHA256',8,30,1764422216,1764421616,NULL,NULL,2,0,NULL,3,1764421636);
INSERT INTO authenticators VALUES('carol','pending',NULL,NULL,NULL,NULL,NULL,0,'Globex','carol','SHA1',6,30,1764422281,1764421681,NULL,NULL,0,1,1764422681,11,1764421781);
INSERT INTO authenticators VALUES('dave','none',NULL,NULL,NULL,NULL,NULL,0,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,0,0,NULL,3,1764421896);
CREATE TABLE IF NOT EXISTS "enrollment_activity" (
    day TEXT NOT NULL,
    issuer TEXT NOT NULL,
    requested INTEGER NOT NULL DEFAULT 0,
    regenerated INTEGER NOT NULL DEFAULT 0,
    confirmed INTEGER NOT NULL DEFAULT 0,
    abandoned INTEGER NOT NULL DEFAULT 0,
    failed_codes INTEGER NOT NULL DEFAULT 0,
    locks INTEGER NOT NULL DEFAULT 0,
    removed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, issuer)
);
INSERT INTO enrollment_activity VALUES('2025-11-29','ACME',2,0,1,0,3,0,0);
INSERT INTO enrollment_activity VALUES('2025-11-29','Globex',5,0,0,0,5,1,0);
INSERT INTO enrollment_activity VALUES('2025-11-29','Enrollment',1,0,0,0,1,0,1);
CREATE INDEX events_recorded_at ON events(recorded_at);
COMMIT;
