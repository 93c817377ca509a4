#!/usr/bin/env python3
"""test_emulator.py - self-test of tests/emulator/mc_emulator.py.

Starts the emulator as a subprocess on port 0 and drives it with a client
written here, independently of the emulator: its own ODPS v2 signer
(hmac + base64), its own record-stream encoder and CRC32C (from the grammar in
/work/shared/maxcompute-protocol*.md), http.client for the wire.  The notes'
worked examples (signatures and block bytes) are reproduced exactly.

Run: python3 tests/emulator/test_emulator.py   (prints "N passed, M failed")
Python 3 standard library only.
"""

import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import xml.etree.ElementTree as ET
import zlib
from urllib.parse import quote

sys.dont_write_bytecode = True  # importing mc_emulator must not litter the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "mc_emulator.py")
ACCESS_ID = "test-id"
SECRET = "s3cr3t-NEVER-on-the-wire"
PROJECT = "kmproj"

# ---------------------------------------------------------------------------
# Independent encoder (protobuf varints, zigzag, CRC32C) from the notes' grammar
# ---------------------------------------------------------------------------


def crc32c_table():
    poly = 0x82F63B78
    table = [0] * 256
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ (poly if crc & 1 else 0)
        table[i] = crc
    return table


CRC_TABLE = crc32c_table()


def crc32c_update(state, data):
    for b in data:
        state = CRC_TABLE[(state ^ b) & 0xFF] ^ (state >> 8)
    return state


def crc32c_value(data):
    return crc32c_update(0xFFFFFFFF, data) ^ 0xFFFFFFFF


def uvarint(n):
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def zz64(v):
    return ((v << 1) ^ (v >> 63)) & (2 ** 64 - 1)


def zz32(v):
    return ((v << 1) ^ (v >> 31)) & (2 ** 32 - 1)


def key(field, wire):
    return uvarint(field << 3 | wire)


END_RECORD_FIELD, COUNT_FIELD, CHECKSUM_FIELD = 2 ** 25 - 1024, 2 ** 25 - 2, 2 ** 25 - 1
INTEGRAL = ("bigint", "int", "smallint", "tinyint", "datetime", "date")


def encode_value(typ, value):
    """(wire type, payload bytes, bytes fed to the record CRC) of one non-NULL value."""
    if typ in INTEGRAL:
        return 0, uvarint(zz64(value)), struct.pack("<q", value)
    if typ == "boolean":
        b = b"\x01" if value else b"\x00"
        return 0, b, b
    if typ == "double":
        b = struct.pack("<d", value)
        return 1, b, b
    if typ == "float":
        b = struct.pack("<f", value)
        return 5, b, b
    if typ == "timestamp":
        sec, nanos = value
        return 2, uvarint(zz64(sec)) + uvarint(zz32(nanos)), struct.pack("<qi", sec, nanos)
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return 2, uvarint(len(raw)) + raw, raw


def encode_block(types, rows):
    """One block body: records then the META_COUNT / META_CHECKSUM trailer."""
    out = bytearray()
    block_crc = 0xFFFFFFFF
    for row in rows:
        rec_crc = 0xFFFFFFFF
        for index, (typ, value) in enumerate(zip(types, row), start=1):
            if value is None:
                continue
            wire, payload, crc_bytes = encode_value(typ, value)
            rec_crc = crc32c_update(rec_crc, struct.pack("<i", index) + crc_bytes)
            out += key(index, wire) + payload
        rec = rec_crc ^ 0xFFFFFFFF
        out += key(END_RECORD_FIELD, 0) + uvarint(rec)
        block_crc = crc32c_update(block_crc, struct.pack("<I", rec))
    out += key(COUNT_FIELD, 0) + uvarint(zz64(len(rows)))
    out += key(CHECKSUM_FIELD, 0) + uvarint(block_crc ^ 0xFFFFFFFF)
    return bytes(out)


def hx(text):
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


EXAMPLE_48 = hx("0a 01 61 10 02 19 00 00 00 00 00 00 e0 3f 80 c0 ff 7f a4 ab f4 d5 0e"
                "10 03 80 c0 ff 7f d7 b2 c2 a7 0c f0 ff ff 7f 04 f8 ff ff 7f 9a e8 ee db 02")
EXAMPLE_48_DEFLATED = hx("78 9c e3 62 4c 14 60 92 64 00 83 07 f6 0d 07 fe d7 2f 59 fd e5 2a 9f"
                         "00 33 88 79 7d d3 a1 e5 3c 1f fe ff af 67 f9 01 24 66 bd 78 77 9b 09"
                         "00 b7 f8 17 9d")
VECTOR_1 = hx("0a 05 68 65 6c 6c 6f 10 54 19 1f 85 eb 51 b8 1e 09 40 80 c0 ff 7f cf fc a8 ad 03"
              "10 0d 80 c0 ff 7f d3 b8 a6 f5 03 f0 ff ff 7f 04 f8 ff ff 7f a7 fe 98 8d 03")
VECTOR_2 = hx("f0 ff ff 7f 00 f8 ff ff 7f 00")
VECTOR_3 = hx("08 01 10 80 d0 8f a5 98 63 1a 06 31 32 33 2e 34 35 25 00 00 c0 3f 28 03 30 96 b4"
              "02 3a 06 68 c3 a9 6c 6c 6f 42 80 82 90 d9 0c aa b4 de 75 4a 02 00 ff 80 c0 ff 7f"
              "b1 f6 d1 a8 03 f0 ff ff 7f 02 f8 ff ff 7f c8 e3 89 de 05")
VECTOR_4 = hx("80 c0 ff 7f 00 0a 00 10 00 19 00 00 00 00 00 00 00 80 80 c0 ff 7f 98 f1 af ae 0f"
              "f0 ff ff 7f 04 f8 ff ff 7f 9a 94 97 ff 04")
KVD = ["string", "bigint", "double"]
V3_TYPES = ["boolean", "datetime", "decimal", "float", "int", "date", "varchar", "timestamp", "binary"]
V3_ROW = [True, 1704067200000, "123.45", 1.5, -2, 19723, "héllo", (1704067200, 123456789), b"\x00\xff"]

# ---------------------------------------------------------------------------
# Independent signer
# ---------------------------------------------------------------------------


def string_to_sign(method, resource, params, headers):
    """params: decoded (key, value) pairs, value None or '' = bare key."""
    std = {"content-md5": "", "content-type": "", "date": ""}
    odps = {}
    for name, value in headers.items():
        low = name.lower()
        if low in std:
            std[low] = value
        elif low.startswith("x-odps-"):
            odps[low] = value
    lines = [method, std["content-md5"], std["content-type"], std["date"]]
    lines += ["%s:%s" % (n, odps[n]) for n in sorted(odps)]
    if params:
        resource += "?" + "&".join(k if not v else k + "=" + v for k, v in sorted(params))
    return "\n".join(lines + [resource])


def authorization(access_id, secret, sts):
    mac = hmac.new(secret.encode(), sts.encode("utf-8"), hashlib.sha1).digest()
    return "ODPS %s:%s" % (access_id, base64.b64encode(mac).decode())


def authorization_v4(access_id, secret, sts, day, region):
    k = ("aliyun_v4" + secret).encode()
    for msg in (day, region, "odps", "aliyun_v4_request"):
        k = hmac.new(k, msg.encode(), hashlib.sha256).digest()
    mac = hmac.new(k, sts.encode("utf-8"), hashlib.sha1).digest()
    return "ODPS %s/%s/%s/odps/aliyun_v4_request:%s" % (access_id, day, region,
                                                          base64.b64encode(mac).decode())


# ---------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def xml(self):
        return ET.fromstring(self.body)

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.body[:300])


class Client:
    def __init__(self, base):
        hostport = base.split("://", 1)[1]
        self.host, port = hostport.split(":")
        self.port = int(port)

    def call(self, method, resource, params=(), headers=None, body=b"", service=False,
             access_id=ACCESS_ID, secret=SECRET, date=None, sign=True, chunked=False,
             tunnel_version="5", auth=None):
        params = list(params)
        target = ("/api" if service else "") + quote(resource)
        if params:
            target += "?" + "&".join(quote(k, safe="") + ("" if v is None else "=" + quote(v, safe=""))
                                     for k, v in params)
        hdrs = {"Date": date if date is not None else email.utils.formatdate(usegmt=True),
                "x-odps-user-agent": "mc-emulator-selftest/1", "User-Agent": "mc-emulator-selftest/1"}
        if date == "":
            del hdrs["Date"]
        if not service and tunnel_version:
            hdrs["x-odps-tunnel-version"] = tunnel_version
        hdrs.update(headers or {})
        if auth is not None:
            hdrs["Authorization"] = auth
        elif sign:
            sts = string_to_sign(method, resource, [(k, v or "") for k, v in params], hdrs)
            hdrs["Authorization"] = authorization(access_id, secret, sts)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            if chunked:
                parts = [body[i:i + 7] for i in range(0, len(body), 7)] or [b""]
                conn.request(method, target, body=iter(parts), headers=hdrs, encode_chunked=True)
            else:
                conn.request(method, target, body=body, headers=hdrs)
            r = conn.getresponse()
            return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
        finally:
            conn.close()

    def control(self, method, name, obj=None, query=""):
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        try:
            body = json.dumps(obj).encode() if obj is not None else b""
            conn.request(method, "/__emulator/" + name + query, body=body)
            r = conn.getresponse()
            return r.status, json.loads(r.read() or b"null")
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# Test fixture: the emulator process and helpers
# ---------------------------------------------------------------------------


class Fixture:
    def __init__(self):
        self.data = tempfile.mkdtemp(prefix="mc-emu-test-")
        self.proc, self.base = start_emulator(sys.executable, self.data)
        self.client = Client(self.base)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


def start_emulator(python, data, extra=()):
    cmd = [python, EMULATOR, "--port", "0", "--data", data, "--access-id", ACCESS_ID,
           "--access-key", SECRET] + list(extra)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    line = proc.stdout.readline().decode().strip() if ready else ""
    if not line.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError("emulator printed %r; stderr: %s" % (line, proc.stderr.read()[:500]))
    return proc, line


F = None  # the shared Fixture


def sql_xml(query):
    return ("""<?xml version="1.0" encoding="utf-8"?>
<Instance><Job><Priority>9</Priority><Tasks><SQL><Name>AnonymousSQLTask</Name>
<Config><Property><Name>type</Name><Value>sql</Value></Property>
<Property><Name>uuid</Name><Value>00000000-0000-0000-0000-000000000001</Value></Property>
<Property><Name>settings</Name><Value>{"odps.sql.type.system.odps2":"true"}</Value></Property>
</Config><Query><![CDATA[%s]]></Query></SQL></Tasks></Job></Instance>""" % query).encode()


def submit(query, project=PROJECT):
    r = F.client.call("POST", "/projects/%s/instances" % project, headers={"Content-Type": "application/xml"},
                      body=sql_xml(query), service=True)
    return r


def run_sql(query, project=PROJECT):
    """(task status, result text, result format) of a SQL task run to termination."""
    r = submit(query, project)
    assert r.status == 201, r
    location = r.headers["location"]
    assert location.startswith(F.base + "/api/projects/%s/instances/" % project), location
    iid = location.rsplit("/", 1)[1]
    res = "/projects/%s/instances/%s" % (project, iid)
    for _ in range(50):
        st = F.client.call("GET", res, service=True)
        assert st.status == 200 and st.headers.get("x-odps-start-time"), st
        if st.xml().findtext("Status") == "Terminated":
            break
    else:
        raise AssertionError("instance never terminated")
    ts = F.client.call("GET", res, [("taskstatus", None)], service=True)
    task = ts.xml().find("./Tasks/Task")
    assert task.get("Type") == "SQL" and task.findtext("Name") == "AnonymousSQLTask", ts
    rs = F.client.call("GET", res, [("result", None)], service=True)
    result = rs.xml().find("./Tasks/Task/Result")
    assert task.findtext("Status") == rs.xml().findtext("./Tasks/Task/Status")
    return task.findtext("Status"), result.text or "", result.get("Format")


def sql_ok(query, project=PROJECT):
    status, text, fmt = run_sql(query, project)
    assert status == "Success", (query, status, text)
    return text


def count(query):
    text = sql_ok(query)
    lines = text.split("\n")
    assert lines[0].startswith('"') and text.endswith("\n"), repr(text)
    return int(lines[1])


def table_path(table):
    return "/projects/%s/tables/%s" % (PROJECT, table)


def create_session(table, partition=None, extra=(), **kw):
    params = [("uploads", None)] + ([("partition", partition)] if partition else []) + list(extra)
    return F.client.call("POST", table_path(table), params, **kw)


def session_params(uid, partition, blockid=None):
    p = [("uploadid", uid)]
    if blockid is not None:
        p.append(("blockid", str(blockid)))
    if partition:
        p.append(("partition", partition))
    return p


def put_block(table, uid, partition, blockid, body, deflate=False, chunked=False, extra_headers=None,
              **kw):
    headers = dict({"Content-Type": "application/octet-stream"}, **(extra_headers or {}))
    if deflate:
        headers["Content-Encoding"] = "deflate"
        body = zlib.compress(body, 1)
    return F.client.call("PUT", table_path(table), session_params(uid, partition, blockid),
                         headers=headers, body=body, chunked=chunked, **kw)


def commit(table, uid, partition):
    return F.client.call("POST", table_path(table), session_params(uid, partition))


def status(table, uid, partition):
    return F.client.call("GET", table_path(table), session_params(uid, partition))


def rows_file(table, *parts):
    path = os.path.join(F.data, PROJECT, table, *parts, "rows.json")
    with open(path) as f:
        return json.load(f)


def set_faults(obj):
    st, body = F.client.control("POST", "faults", obj)
    assert st == 200, body
    return body


def expect_error(resp, status, code, fmt="json"):
    assert resp.status == status, resp
    if fmt == "json":
        body = resp.json()
        assert body["Code"] == code and body["Message"] and body["RequestId"], body
    else:
        root = resp.xml()
        assert root.tag == "Error" and root.findtext("Code") == code, resp
        assert root.findtext("Message") and root.findtext("RequestId") and root.findtext("HostId")
    assert resp.headers.get("x-odps-request-id"), resp.headers


def simple_table(name, partitioned=True):
    part = " PARTITIONED BY (`ds` STRING)" if partitioned else ""
    sql_ok("CREATE TABLE IF NOT EXISTS `%s` (`k` STRING, `v` BIGINT, `d` DOUBLE)%s;" % (name, part))
    if partitioned:
        sql_ok("ALTER TABLE %s ADD IF NOT EXISTS PARTITION (ds='20240101');" % name)


def open_session(table, partition="ds=20240101", **kw):
    r = create_session(table, partition, **kw)
    assert r.status in (200, 201), r
    return r.json()["UploadID"]


# ---------------------------------------------------------------------------
# Tests: offline (vectors)
# ---------------------------------------------------------------------------


def test_crc32c_and_encoder_reproduce_the_notes_vectors():
    assert crc32c_value(b"123456789") == 0xE3069283
    assert encode_block(KVD, [["a", 1, 0.5], [None, -2, None]]) == EXAMPLE_48
    assert zlib.decompress(EXAMPLE_48_DEFLATED) == EXAMPLE_48
    assert encode_block(KVD, [["hello", 42, 3.14], [None, -7, None]]) == VECTOR_1
    assert encode_block(KVD, []) == VECTOR_2
    assert encode_block(V3_TYPES, [V3_ROW]) == VECTOR_3
    assert encode_block(KVD, [[None, None, None], ["", 0, -0.0]]) == VECTOR_4
    assert crc32c_value(hx("01000000 61 02000000 0100000000000000 03000000 000000000000e03f")) == 0xEABD15A4


def test_emulator_decoder_accepts_the_notes_vectors():
    sys.path.insert(0, HERE)
    import mc_emulator as emu
    T = emu.parse_type_text
    kvd = [T("string"), T("bigint"), T("double")]
    assert emu.crc32c(b"123456789") == 0xE3069283
    assert emu.decode_block(kvd, EXAMPLE_48) == [["a", 1, 0.5], [None, -2, None]]
    assert emu.decode_block(kvd, VECTOR_1) == [["hello", 42, 3.14], [None, -7, None]]
    assert emu.decode_block(kvd, VECTOR_2) == []
    v3 = emu.decode_block([T(t) for t in ["boolean", "datetime", "decimal(10,2)", "float", "int",
                                          "date", "varchar(10)", "timestamp", "binary"]], VECTOR_3)
    assert v3 == [[True, 1704067200000, "123.45", 1.5, -2, 19723, "héllo",
                   (1704067200, 123456789), b"\x00\xff"]], v3
    v4 = emu.decode_block(kvd, VECTOR_4)
    assert v4[0] == [None, None, None] and v4[1][:2] == ["", 0] and str(v4[1][2]) == "-0.0"
    for bad in (EXAMPLE_48[:-1], EXAMPLE_48 + b"\x00", EXAMPLE_48.replace(b"\x02", b"\x04", 1)):
        try:
            emu.decode_block(kvd, bad)
        except emu.BlockError:
            continue
        raise AssertionError("decoder accepted %s" % bad.hex())


def test_signer_reproduces_the_notes_signatures():
    sys.path.insert(0, HERE)
    import mc_emulator as emu
    d24 = "Mon, 01 Jan 2024 00:00:00 GMT"
    ua = {"x-odps-user-agent": "mc-c-client/0.1"}
    cases = [
        ("PUT", "/projects/p1/tables/t1", [("uploadid", "U1"), ("partition", "ds=20221121"), ("blockid", "0")],
         {"Content-Type": "application/octet-stream", "Date": "Tue, 22 Nov 2022 02:05:00 GMT",
          "x-odps-tunnel-version": "6"}, "test-id", "test-secret", "ehfmwlMod0MnYX8CYuKwGTQ/j0w=", None),
        ("GET", "/projects/my_project/tunnel", [("service", ""), ("curr_project", "my_project")],
         dict(ua, Date=d24), "test-id", "test-secret", "K4cM2nku9I2EPB7jcUvbN+8j1e8=",
         "+2FnABxFjzCa57rdeJOsARrvOmo="),
        ("POST", "/projects/my_project/tables/my_table", [("uploads", ""), ("partition", "ds=20240101,hh=08")],
         dict(ua, Date=d24, **{"x-odps-tunnel-version": "5"}), "test-id", "test-secret",
         "DpLVIMEt3nou4kbPOHmLb5pzNMM=", "HoIQ5Wia30kNhcpzooTyF8fDOcM="),
        ("PUT", "/projects/my_project/tables/my_table",
         [("uploadid", "20240101000000abcdef0123456789ab"), ("blockid", "0"), ("partition", "ds=20240101,hh=08")],
         dict(ua, Date=d24, **{"x-odps-tunnel-version": "5", "Content-Type": "application/octet-stream"}),
         "test-id", "test-secret", "pMvtIb4UnQh8snE4vTi2Qug0lRs=", "9Bg5QvmgaBG67FWOUd0+PUPilmQ="),
        ("POST", "/projects/my_project/instances", [], dict(ua, Date=d24, **{"Content-Type": "application/xml"}),
         "test-id", "test-secret", "ltf2IbUsYTNL7kseSnLlZPwccBg=", "SSOjzAW9TrEcB30KmCEyet8Aa4M="),
    ]
    ruby = {"Content-MD5": "e5828c564f71fea3a12dde8bd5d27063", "Content-Type": "application/octet-stream",
            "Date": "Thu, 26 Nov 2015 08:56:57 GMT", "X-ODPS-resource-type": "file",
            "X-ODPS-resource-name": "test.file"}
    rid, rkey = "12CF3450006BF789F103", "Isdfjlkewpoerjtnsdfsdfswerweoriskdfjert="
    cases.append(("POST", "/projects/test_project/resources", [], ruby, rid, rkey,
                  "z7/QmEf7ZZYABY6S7GSrfSjltv8=", None))
    cases.append(("POST", "/projects/test_project/resources", [("owner", "ALIYUN$demo@example.com")], ruby,
                  rid, rkey, "+D2xEUdh0f41uEODgJd5zqxrVMQ=", None))
    for method, res, params, headers, aid, key_, want, want_v4 in cases:
        sts = string_to_sign(method, res, params, headers)
        assert authorization(aid, key_, sts) == "ODPS %s:%s" % (aid, want), (res, sts)
        assert emu.canonical_string(method, res, params, headers) == sts, res
        assert emu.sign_v2(key_, sts) == want
        if want_v4:
            v4 = authorization_v4(aid, key_, sts, "20240101", "cn-hangzhou")
            assert v4.endswith(":" + want_v4), v4
            assert emu.sign_v4(key_, sts, "20240101", "cn-hangzhou") == want_v4


# ---------------------------------------------------------------------------
# Tests: against the running emulator
# ---------------------------------------------------------------------------


def test_discovery_and_signature_checks():
    c = F.client
    r = c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None), ("curr_project", PROJECT)], service=True)
    assert r.status == 200 and r.body.decode() == F.base.split("://")[1], r
    expect_error(c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True,
                        secret="wrong"), 403, "SignatureNotMatch", "xml")
    expect_error(c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True,
                        access_id="other-id"), 403, "InvalidAccessKeyId", "xml")
    expect_error(c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True,
                        sign=False), 401, "Unauthorized", "xml")
    expect_error(c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True,
                        date=""), 401, "Unauthorized", "xml")
    expect_error(c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True,
                        date="Mon, 01 Jan 2024 00:00:00 GMT"), 401, "RequestTimeTooSkewed", "xml")
    # a signed query parameter the server does not know must still be signed
    r = c.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", ""), ("zz_extra", "a b/c")], service=True)
    assert r.status == 200, r
    # tunnel paths answer JSON errors
    expect_error(c.call("POST", "/projects/%s/tables/none" % PROJECT, [("uploads", None)], secret="x"),
                 403, "SignatureNotMatch")
    # v4 signatures are accepted too
    date = email.utils.formatdate(usegmt=True)
    sts = string_to_sign("GET", "/projects/%s/tunnel" % PROJECT, [("service", "")], {"Date": date})
    auth = authorization_v4(ACCESS_ID, SECRET, sts, time.strftime("%Y%m%d", time.gmtime()), "cn-test")
    conn = http.client.HTTPConnection(c.host, c.port, timeout=10)
    conn.request("GET", "/api/projects/%s/tunnel?service" % PROJECT, headers={"Date": date, "Authorization": auth})
    assert conn.getresponse().status == 200
    conn.close()


def test_create_table_via_instance():
    text = sql_ok("CREATE TABLE IF NOT EXISTS %s.`events` (\n  `k` STRING COMMENT 'key\\'s',\n"
                  "  `select` BIGINT,\n  `d` DOUBLE,\n  `ok` BOOLEAN,\n  `t` DATETIME,\n"
                  "  `m` DECIMAL(10,2)\n)\nCOMMENT 'table comment'\nPARTITIONED BY (`ds` STRING, hh STRING)\n"
                  "LIFECYCLE 36500;" % PROJECT)
    assert text in ("", "OK"), text
    with open(os.path.join(F.data, PROJECT, "events", "schema.json")) as f:
        schema = json.load(f)
    assert [c["name"] for c in schema["columns"]] == ["k", "select", "d", "ok", "t", "m"]
    assert [c["type"] for c in schema["columns"]][-1] == "decimal(10,2)"
    assert [c["name"] for c in schema["partition_keys"]] == ["ds", "hh"] and schema["lifecycle"] == 36500
    status_, text, _ = run_sql("CREATE TABLE events (a BIGINT);")
    assert status_ == "Failed" and text.startswith("ODPS-0130071:[1,14]"), text
    sql_ok("CREATE TABLE IF NOT EXISTS events (a BIGINT);")
    status_, text, _ = run_sql("CREATE TABLE `a``b` (x BIGINT);")
    assert status_ == "Failed" and "invalid table name 'a`b'" in text, text


def test_sql_errors_are_failed_tasks_with_positions():
    status_, text, fmt = run_sql("INSERT INTO events VALUES (1);")
    assert status_ == "Failed" and text.startswith("ODPS-0130161:[1,1] Parse exception"), text
    status_, text, _ = run_sql("CREATE TABLE x1 (\n  a BIGINT,\n  b WHATEVER\n);")
    assert status_ == "Failed" and text.startswith("ODPS-0130161:[3,5]") and "WHATEVER" in text, text
    status_, text, _ = run_sql("DROP TABLE IF EXISTS x1")  # no ';'
    assert status_ == "Failed" and "ODPS-0130161" in text, text
    status_, text, _ = run_sql("ALTER TABLE nosuch ADD PARTITION (ds='1');")
    assert status_ == "Failed" and text.startswith("ODPS-0130131:[1,13] Table not found"), text
    status_, text, _ = run_sql("ALTER TABLE events ADD PARTITION (ds='1');")
    assert status_ == "Failed" and "every partition key" in text, text
    status_, text, _ = run_sql("CREATE TABLE x2 (a STRING COMMENT 'oops);")
    assert status_ == "Failed" and "unterminated string" in text, text
    r = F.client.call("POST", "/projects/%s/instances" % PROJECT, headers={"Content-Type": "application/xml"},
                      body=b"<Instance><Job>", service=True)
    expect_error(r, 400, "InvalidArgument", "xml")


def test_upload_two_blocks_commit_and_count():
    sql_ok("ALTER TABLE events ADD IF NOT EXISTS PARTITION (ds='20240101', hh='08') PARTITION (ds='20240101', hh='09');")
    part = "ds=20240101,hh=08"
    r = create_session("events", part)
    assert r.status in (200, 201), r
    s = r.json()
    assert s["Status"].upper() == "NORMAL" and s["UploadedBlockList"] == [] and s["IsOverwrite"] is False
    assert [c["name"] for c in s["Schema"]["columns"]] == ["k", "select", "d", "ok", "t", "m"]
    assert s["Schema"]["columns"][5]["type"] == "decimal(10,2)"
    assert s["Schema"]["partitionKeys"][0]["name"] == "ds" and s["MaxFieldSize"] == 8388608
    assert s["Owner"] and s["Initiated"]
    uid = s["UploadID"]
    types = ["string", "bigint", "double", "boolean", "datetime", "decimal"]
    b0 = encode_block(types, [["a", 1, 0.5, True, 1704067200000, "12.50"],
                              [None, -2, None, False, None, "-0.01"]])
    b1 = encode_block(types, [["héllo", 2 ** 63 - 1, -1.25, None, -1, None]])
    assert put_block("events", uid, part, 0, b0).status == 200
    assert put_block("events", uid, part, 1, b1, deflate=True, chunked=True).status == 200
    st = status("events", uid, part).json()
    assert sorted(b["BlockID"] for b in st["UploadedBlockList"]) == [0, 1], st
    assert all(b.get("Date") for b in st["UploadedBlockList"])
    c = commit("events", uid, part)
    assert c.status == 200 and c.json()["Status"].upper() == "CLOSED", c
    assert rows_file("events", "ds=20240101", "hh=08") == [
        {"k": "a", "select": 1, "d": 0.5, "ok": True, "t": 1704067200000, "m": "12.50"},
        {"k": None, "select": -2, "d": None, "ok": False, "t": None, "m": "-0.01"},
        {"k": "héllo", "select": 2 ** 63 - 1, "d": -1.25, "ok": None, "t": -1, "m": None}]
    assert count("SELECT COUNT(*) FROM events WHERE ds='20240101' AND hh='08';") == 3
    assert count("SELECT COUNT(*) FROM events WHERE hh='09';") == 0
    assert count("SELECT COUNT(*) FROM %s.events;" % PROJECT) == 3
    assert count("SELECT COUNT(*) FROM events WHERE `select` = 1 AND m = '12.50';") == 1
    _, text, fmt = run_sql("SELECT COUNT(*) FROM events WHERE k='a';")
    assert text == '"_c0"\n1\n' and fmt == "csv", (text, fmt)
    _, text, _ = run_sql("SELECT COUNT(1) AS n FROM events;")
    assert text == '"n"\n3\n', text
    expect_error(commit("events", uid, part), 409, "StatusConflict")
    expect_error(put_block("events", uid, part, 2, b1), 409, "StatusConflict")


def test_append_then_overwrite_replaces_rows():
    simple_table("ow")
    part = "ds=20240101"
    for rows in ([["a", 1, 0.5]], [["b", 2, 1.5]]):
        uid = open_session("ow")
        assert put_block("ow", uid, part, 0, encode_block(KVD, rows)).status == 200
        assert commit("ow", uid, part).status == 200
    assert count("SELECT COUNT(*) FROM ow WHERE ds='20240101';") == 2
    r = create_session("ow", part, extra=[("overwrite", "true")])
    assert r.json()["IsOverwrite"] is True
    uid = r.json()["UploadID"]
    assert put_block("ow", uid, part, 3, encode_block(KVD, [["x", 9, None]])).status == 200
    assert put_block("ow", uid, part, 3, encode_block(KVD, [["y", 8, None], ["z", 7, None]])).status == 200
    assert rows_file("ow", "ds=20240101") == [{"k": "a", "v": 1, "d": 0.5}, {"k": "b", "v": 2, "d": 1.5}]
    assert commit("ow", uid, part).status == 200
    assert rows_file("ow", "ds=20240101") == [{"k": "y", "v": 8, "d": None}, {"k": "z", "v": 7, "d": None}]
    uid = open_session("ow", extra=[("overwrite", "true")])
    assert put_block("ow", uid, part, 0, VECTOR_2).status == 200
    assert commit("ow", uid, part).status == 200
    assert count("SELECT COUNT(*) FROM ow;") == 0


def test_bad_blocks_are_rejected():
    simple_table("bad")
    part = "ds=20240101"
    uid = open_session("bad")
    good = encode_block(KVD, [["a", 1, 0.5], [None, -2, None]])
    bad_crc = good.replace(bytes.fromhex("a4abf4d50e"), bytes.fromhex("a5abf4d50e"))
    bad_count = good.replace(bytes.fromhex("f0ffff7f04"), bytes.fromhex("f0ffff7f06"))
    bad_block_crc = good[:-5] + uvarint(0x12345678)
    mutated_value = good.replace(b"\x0a\x01\x61", b"\x0a\x01\x62")
    crc4 = crc32c_value(struct.pack("<i", 4) + struct.pack("<q", 0))
    extra_col = (key(4, 0) + b"\x00" + key(END_RECORD_FIELD, 0) + uvarint(crc4)
                 + encode_block(KVD, [])[:0])
    extra_col_block = extra_col + key(COUNT_FIELD, 0) + b"\x02" + key(CHECKSUM_FIELD, 0) + uvarint(
        crc32c_value(struct.pack("<I", crc4)))
    crc2 = crc32c_value(struct.pack("<i", 2) + struct.pack("<d", 1.0))
    wrong_wire = (key(2, 1) + struct.pack("<d", 1.0) + key(END_RECORD_FIELD, 0) + uvarint(crc2)
                  + key(COUNT_FIELD, 0) + b"\x02" + key(CHECKSUM_FIELD, 0)
                  + uvarint(crc32c_value(struct.pack("<I", crc2))))
    cases = {"record checksum": bad_crc, "count": bad_count, "block checksum": bad_block_crc,
             "value changed": mutated_value, "unknown column": extra_col_block,
             "wire type": wrong_wire, "trailing bytes": good + b"\x00", "no trailer": good[:-10],
             "empty": b""}
    for name, body in cases.items():
        r = put_block("bad", uid, part, 0, body)
        assert r.status == 400 and r.json()["Code"] == "MalformedDataStream", (name, r)
    r = put_block("bad", uid, part, 0, b"not zlib", extra_headers={"Content-Encoding": "deflate"})
    expect_error(r, 400, "MalformedDataStream")
    expect_error(put_block("bad", uid, part, 20000, good), 400, "InvalidBlockID")
    expect_error(put_block("bad", uid, part, "x", good), 400, "InvalidBlockID")
    assert status("bad", uid, part).json()["UploadedBlockList"] == []
    assert put_block("bad", uid, part, 19999, good).status == 200


def test_session_errors_and_partition_rules():
    simple_table("flat", partitioned=False)
    expect_error(create_session("missing_table"), 404, "NoSuchTable")
    expect_error(create_session("bad"), 400, "MissingPartitionSpec")
    expect_error(create_session("bad", "ds=19990101"), 404, "NoSuchPartition")
    expect_error(create_session("bad", "ds='20240101'"), 400, "InvalidPartitionSpec")
    expect_error(create_session("bad", "ds=20240101,hh=1"), 400, "InvalidPartitionSpec")
    expect_error(create_session("flat", "ds=20240101"), 400, "InvalidPartitionSpec")
    expect_error(create_session("bad", "ds=20240101", tunnel_version=None), 400, "InvalidArgument")
    expect_error(create_session("bad", "ds=20240101", tunnel_version="3"), 400, "InvalidArgument")
    for v in ("4", "6"):
        assert create_session("bad", "ds=20240101", tunnel_version=v).status == 201
    r = create_session("bad", "ds=20240202", extra=[("create_partition", "true")])
    assert r.status == 201 and os.path.isdir(os.path.join(F.data, PROJECT, "bad", "ds=20240202")), r
    # Python SDK spelling uploads=1 and extra reload=False, curr_project
    r = F.client.call("POST", table_path("bad"), [("uploads", "1"), ("partition", "ds=20240101"),
                                                  ("reload", "False"), ("curr_project", PROJECT)])
    assert r.status == 201, r
    uid = r.json()["UploadID"]
    expect_error(put_block("bad", uid, "ds=20240202", 0, VECTOR_2), 400, "InvalidPartitionSpec")
    expect_error(put_block("bad", uid, None, 0, VECTOR_2), 400, "MissingPartitionSpec")
    expect_error(put_block("bad", "nope", "ds=20240101", 0, VECTOR_2), 404, "NoSuchUploadID")
    # unpartitioned table: rows.json in the table directory
    uid = open_session("flat", partition=None)
    assert put_block("flat", uid, None, 0, VECTOR_1, deflate=True).status == 200
    assert commit("flat", uid, None).status == 200
    assert rows_file("flat") == [{"k": "hello", "v": 42, "d": 3.14}, {"k": None, "v": -7, "d": None}]
    expect_error(F.client.call("GET", "/projects/%s/tunnel" % "Bad-Name", [("service", None)], service=True),
                 404, "NoSuchProject", "xml")


def test_expect_100_continue_with_chunked_body():
    simple_table("exp")
    uid = open_session("exp")
    resource = table_path("exp")
    params = [("uploadid", uid), ("blockid", "0"), ("partition", "ds=20240101")]
    date = email.utils.formatdate(usegmt=True)
    hdrs = {"Content-Type": "application/octet-stream", "Date": date, "x-odps-tunnel-version": "5"}
    auth = authorization(ACCESS_ID, SECRET, string_to_sign("PUT", resource, params, hdrs))
    target = resource + "?" + "&".join("%s=%s" % (k, quote(v, safe="")) for k, v in params)
    head = ("PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n"
            "Content-Type: application/octet-stream\r\nDate: %s\r\nx-odps-tunnel-version: 5\r\n"
            "Authorization: %s\r\nConnection: close\r\n\r\n" % (target, date, auth))
    sock = socket.create_connection((F.client.host, F.client.port), timeout=10)
    sock.sendall(head.encode())
    first = sock.recv(4096)
    assert first.startswith(b"HTTP/1.1 100"), first
    body = VECTOR_1
    sock.sendall(b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:]))
    resp = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            break
        resp += chunk
    sock.close()
    assert resp.startswith(b"HTTP/1.1 200"), resp


def test_fault_fail_block_put_then_retry():
    simple_table("f1")
    uid = open_session("f1")
    set_faults({"fail_block_put": {"nth": 2, "status": 500, "times": 1}})
    blk = encode_block(KVD, [["a", 1, 0.5]])
    assert put_block("f1", uid, "ds=20240101", 0, blk).status == 200
    expect_error(put_block("f1", uid, "ds=20240101", 1, blk), 500, "InternalServerError")
    assert put_block("f1", uid, "ds=20240101", 1, blk).status == 200
    st, faults = F.client.control("GET", "faults")
    assert faults["fail_block_put"]["fired"] == 1 and faults["fail_block_put"]["seen"] == 3, faults
    set_faults({"fail_block_put": {"status": 429, "times": 1}})
    expect_error(put_block("f1", uid, "ds=20240101", 2, blk), 429, "FlowExceeded")
    set_faults({})
    assert commit("f1", uid, "ds=20240101").status == 200
    assert count("SELECT COUNT(*) FROM f1;") == 2
    st, log = F.client.control("GET", "log")
    puts = [e["status"] for e in log["requests"] if e["method"] == "PUT" and "/f1" in e["path"]]
    assert puts == [200, 500, 200, 429], puts


def test_fault_drop_block_put_mid_body():
    simple_table("f2")
    uid = open_session("f2")
    set_faults({"drop_block_put_mid_body": {"nth": 1}})
    big = encode_block(KVD, [["x" * 1000, i, 0.5] for i in range(300)])
    try:
        r = put_block("f2", uid, "ds=20240101", 0, big, chunked=True)
        raise AssertionError("expected a dropped connection, got %r" % r)
    except (ConnectionError, http.client.HTTPException, socket.timeout, OSError):
        pass
    assert put_block("f2", uid, "ds=20240101", 0, big, chunked=True).status == 200
    set_faults({})
    assert commit("f2", uid, "ds=20240101").status == 200
    assert count("SELECT COUNT(*) FROM f2;") == 300
    st, log = F.client.control("GET", "log")
    dropped = [e for e in log["requests"] if e.get("dropped")]
    assert dropped and dropped[-1]["fault"] == "drop_block_put_mid_body", dropped


def test_fault_delay():
    simple_table("f3")
    uid = open_session("f3")
    set_faults({"delay_ms": {"block_put": 300}})
    t0 = time.time()
    assert put_block("f3", uid, "ds=20240101", 0, VECTOR_2).status == 200
    assert time.time() - t0 >= 0.3
    set_faults({})
    t0 = time.time()
    assert put_block("f3", uid, "ds=20240101", 0, VECTOR_2).status == 200
    assert time.time() - t0 < 0.3


def test_fault_commit_failures():
    simple_table("f4")
    part = "ds=20240101"
    blk = encode_block(KVD, [["a", 1, 0.5]])
    uid = open_session("f4")
    assert put_block("f4", uid, part, 0, blk).status == 200
    set_faults({"fail_commit": {"times": 1, "status": 500}})
    expect_error(commit("f4", uid, part), 500, "InternalServerError")
    assert count("SELECT COUNT(*) FROM f4;") == 0
    assert commit("f4", uid, part).status == 200
    assert count("SELECT COUNT(*) FROM f4;") == 1
    # a commit that succeeded but whose reply was lost: the retry gets StatusConflict, status says closed
    uid = open_session("f4")
    assert put_block("f4", uid, part, 0, blk).status == 200
    set_faults({"fail_commit": {"status": 503, "after_apply": True}})
    expect_error(commit("f4", uid, part), 503, "ServiceUnavailable")
    expect_error(commit("f4", uid, part), 409, "StatusConflict")
    assert status("f4", uid, part).json()["Status"] == "closed"
    assert count("SELECT COUNT(*) FROM f4;") == 2
    uid = open_session("f4")
    assert put_block("f4", uid, part, 0, blk).status == 200
    set_faults({"drop_commit_reply": {}})
    try:
        commit("f4", uid, part)
        raise AssertionError("expected a dropped commit reply")
    except (ConnectionError, http.client.HTTPException, OSError):
        pass
    assert status("f4", uid, part).json()["Status"] == "closed"
    assert count("SELECT COUNT(*) FROM f4;") == 3
    set_faults({})


def test_fault_reject_signature_and_generic_failures():
    set_faults({"reject_signature": {"times": 1}})
    r = F.client.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True)
    expect_error(r, 403, "SignatureNotMatch", "xml")
    r = F.client.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True)
    assert r.status == 200, r
    set_faults({"reject_signature": {"endpoint": "tunnel"}})
    assert F.client.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True).status == 200
    expect_error(create_session("f1", "ds=20240101"), 403, "SignatureNotMatch")
    set_faults({"fail_create_session": {"status": 502}, "fail_discovery": {"status": 503}})
    expect_error(create_session("f1", "ds=20240101"), 502, "BadGateway")
    expect_error(F.client.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True),
                 503, "ServiceUnavailable", "xml")
    set_faults({"fail_request": {"method": "GET", "path_contains": "/tables/f1", "status": 500,
                                 "code": "DataStoreError", "times": 2}})
    uid = open_session("f1")
    expect_error(status("f1", uid, "ds=20240101"), 500, "DataStoreError")
    expect_error(status("f1", uid, "ds=20240101"), 500, "DataStoreError")
    assert status("f1", uid, "ds=20240101").status == 200
    st, body = F.client.control("POST", "faults", {"fail_blok_put": {}})
    assert st == 400 and "fail_blok_put" in body["error"], body
    st, body = F.client.control("POST", "faults", {"fail_commit": {"nht": 1}})
    assert st == 400, body
    set_faults({})


def test_fault_fail_sql_and_running_polls():
    set_faults({"fail_sql": {"times": 1, "match": "CREATE TABLE", "message": "ODPS-0130071:[1,1] boom"}})
    status_, text, _ = run_sql("SELECT COUNT(*) FROM f1;")
    assert status_ == "Success", text
    status_, text, _ = run_sql("CREATE TABLE IF NOT EXISTS never_made (a BIGINT);")
    assert status_ == "Failed" and text == "ODPS-0130071:[1,1] boom", text
    assert not os.path.exists(os.path.join(F.data, PROJECT, "never_made"))
    set_faults({"fail_sql": {"mode": "http", "status": 500}})
    expect_error(submit("SELECT COUNT(*) FROM f1;"), 500, "InternalServerError", "xml")
    set_faults({"instance_running_polls": 2})
    r = submit("SELECT COUNT(*) FROM f1;")
    res = "/projects/%s/instances/%s" % (PROJECT, r.headers["location"].rsplit("/", 1)[1])
    seen = [F.client.call("GET", res, service=True).xml().findtext("Status") for _ in range(3)]
    assert seen == ["Running", "Running", "Terminated"], seen
    set_faults({})
    expect_error(F.client.call("GET", "/projects/%s/instances/nope" % PROJECT, service=True),
                 404, "NoSuchObject", "xml")


def test_log_has_requests_and_never_the_secret():
    st, log = F.client.control("GET", "log")
    entries = log["requests"]
    assert len(entries) > 50
    for e in entries:
        for field in ("method", "path", "params", "status", "target", "endpoint"):
            assert field in e, e
    blob = json.dumps(log)
    assert SECRET not in blob and quote(SECRET) not in blob
    assert any(e["params"].get("blockid") == "1" and e["method"] == "PUT" for e in entries)
    last = entries[-1]["seq"]
    F.client.call("GET", "/projects/%s/tunnel" % PROJECT, [("service", None)], service=True)
    st, newer = F.client.control("GET", "log", query="?since=%d" % last)
    assert len(newer["requests"]) == 1, newer


def test_drop_table_and_partition():
    simple_table("gone")
    sql_ok("ALTER TABLE gone DROP PARTITION (ds='20240101');")
    assert not os.path.exists(os.path.join(F.data, PROJECT, "gone", "ds=20240101"))
    sql_ok("DROP TABLE gone;")
    assert not os.path.exists(os.path.join(F.data, PROJECT, "gone"))
    sql_ok("DROP TABLE IF EXISTS gone;")
    status_, text, _ = run_sql("DROP TABLE gone;")
    assert status_ == "Failed" and text.startswith("ODPS-0130131"), text


def test_reset():
    set_faults({"fail_commit": {}})
    st, body = F.client.control("POST", "reset", {})
    assert st == 200
    st, faults = F.client.control("GET", "faults")
    assert faults == {}, faults
    st, log = F.client.control("GET", "log")
    assert log["requests"] == []
    assert os.path.exists(os.path.join(F.data, PROJECT, "events", "schema.json"))
    F.client.control("POST", "reset", {"data": True})
    assert not os.path.exists(os.path.join(F.data, PROJECT, "events"))


def test_system_python_project_list_and_signals():
    data = tempfile.mkdtemp(prefix="mc-emu-test2-")
    try:
        proc, base = start_emulator("/usr/bin/python3", data, ["--project", "only_me"])
        c = Client(base)
        assert c.call("GET", "/projects/only_me/tunnel", [("service", None)], service=True).status == 200
        expect_error(c.call("GET", "/projects/other/tunnel", [("service", None)], service=True),
                     404, "NoSuchProject", "xml")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=5) == 0
    finally:
        shutil.rmtree(data, ignore_errors=True)
    F.proc.send_signal(signal.SIGTERM)
    assert F.proc.wait(timeout=5) == 0


# ---------------------------------------------------------------------------
# Runner
# ---------------------------------------------------------------------------


def main():
    global F
    tests = [(n, f) for n, f in globals().items() if n.startswith("test_") and callable(f)]
    passed = failed = 0
    started = time.time()
    F = Fixture()
    try:
        for name, fn in tests:
            t0 = time.time()
            try:
                fn()
                passed += 1
                print("ok   %-55s %.2fs" % (name, time.time() - t0))
            except Exception:
                failed += 1
                print("FAIL %s" % name)
                print("    " + traceback.format_exc().replace("\n", "\n    "))
    finally:
        F.close()
    print("(%.1fs)" % (time.time() - started))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
