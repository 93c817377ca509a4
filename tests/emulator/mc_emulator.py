#!/usr/bin/env python3
"""mc_emulator.py - a MaxCompute (ODPS) emulator for kmsync's tests.

It serves, on 127.0.0.1, the parts of MaxCompute that kmsync uses:

* the service (REST) endpoint under ``/api``: tunnel discovery
  (``GET /api/projects/{p}/tunnel?service``) and SQL instances
  (``POST /api/projects/{p}/instances`` and the status / ``?taskstatus`` /
  ``?result`` reads), running a small SQL subset (CREATE TABLE, ALTER TABLE
  ADD/DROP PARTITION, DROP TABLE, SELECT COUNT(*));
* the Tunnel endpoint at the root: batch upload sessions on
  ``/projects/{p}/tables/{t}`` (create, status, block PUT, commit).

Every request is checked against the ODPS v2 signature (HMAC-SHA1, see
/work/shared/maxcompute-protocol*.md section 2).  Block bodies are decoded and
verified by this file's own protobuf / CRC32C code.  Committed data lives on
disk under --data as JSON.  A test-only control API under ``/__emulator/``
(unsigned) injects faults and exposes the request log.

Written from the protocol notes and the public SDKs' behaviour, never from
kmsync's C code.  Python 3 standard library only.

Usage: mc_emulator.py --port 0 --data DIR --access-id ID --access-key SECRET
                      [--project NAME ...]
The first line on stdout is the base URL, ``http://127.0.0.1:PORT``.
"""

import argparse
import base64
import decimal
import email.utils
import hashlib
import hmac
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import struct
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, unquote_plus

# ---------------------------------------------------------------------------
# CRC32C (Castagnoli), table driven, reflected polynomial 0x82F63B78
# ---------------------------------------------------------------------------


def _make_crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C_TABLE = _make_crc32c_table()


class Crc32c:
    """Incremental CRC-32C: init 0xFFFFFFFF, final xor 0xFFFFFFFF."""

    def __init__(self):
        self.state = 0xFFFFFFFF

    def reset(self):
        self.state = 0xFFFFFFFF

    def update(self, data):
        s = self.state
        table = _CRC32C_TABLE
        for byte in data:
            s = table[(s ^ byte) & 0xFF] ^ (s >> 8)
        self.state = s

    def value(self):
        return self.state ^ 0xFFFFFFFF


def crc32c(data):
    c = Crc32c()
    c.update(data)
    return c.value()


# ---------------------------------------------------------------------------
# Column types
# ---------------------------------------------------------------------------

WT_VARINT, WT_FIXED64, WT_LEN, WT_FIXED32 = 0, 1, 2, 5

END_RECORD = 33553408       # 2^25 - 1024
META_COUNT = 33554430       # 2^25 - 2
META_CHECKSUM = 33554431    # 2^25 - 1

MAX_FIELD_SIZE = 8 * 1024 * 1024
MAX_BLOCK_ID = 19999

INT_BITS = {"tinyint": 8, "smallint": 16, "int": 32, "bigint": 64}
VARINT_BASES = {"bigint", "int", "smallint", "tinyint", "boolean", "datetime", "date"}
TEXT_BASES = {"string", "varchar", "char"}
WIRE_TYPES = {
    "bigint": WT_VARINT, "int": WT_VARINT, "smallint": WT_VARINT, "tinyint": WT_VARINT,
    "boolean": WT_VARINT, "datetime": WT_VARINT, "date": WT_VARINT,
    "double": WT_FIXED64, "float": WT_FIXED32,
    "string": WT_LEN, "varchar": WT_LEN, "char": WT_LEN, "binary": WT_LEN,
    "decimal": WT_LEN, "timestamp": WT_LEN, "timestamp_ntz": WT_LEN,
}
PARTITION_KEY_BASES = {"string", "varchar", "char", "bigint", "int", "smallint", "tinyint"}

DATETIME_MIN_MS = -62135596800000      # 0001-01-01 00:00:00.000 UTC
DATETIME_MAX_MS = 253402300799999      # 9999-12-31 23:59:59.999 UTC
DATE_MIN_DAYS, DATE_MAX_DAYS = -719162, 2932896


class ColumnType:
    """A MaxCompute primitive type: a lower-case base name plus its arguments."""

    __slots__ = ("base", "args")

    def __init__(self, base, args=()):
        self.base = base
        self.args = tuple(args)

    @property
    def wire_type(self):
        return WIRE_TYPES[self.base]

    def render(self):
        if self.args:
            return "%s(%s)" % (self.base, ",".join(str(a) for a in self.args))
        return self.base

    def __eq__(self, other):
        return isinstance(other, ColumnType) and (self.base, self.args) == (other.base, other.args)

    def __repr__(self):
        return "ColumnType(%r)" % self.render()


_TYPE_TEXT_RE = re.compile(r"^([a-z_]+)(?:\((\d+)(?:,(\d+))?\))?$")


def parse_type_text(text):
    """Parses a rendered type such as 'decimal(10,2)' (schema.json form)."""
    m = _TYPE_TEXT_RE.match(text.strip().lower().replace(" ", ""))
    if not m or m.group(1) not in WIRE_TYPES:
        raise ValueError("unknown type %r" % text)
    args = [int(a) for a in m.group(2, 3) if a is not None]
    return ColumnType(m.group(1), args)


# ---------------------------------------------------------------------------
# Block (record stream) decoding
# ---------------------------------------------------------------------------


class BlockError(ValueError):
    """A violation of the record-stream grammar; answered as MalformedDataStream."""


def read_varint(buf, pos):
    """Reads an unsigned base-128 varint (at most 10 bytes, < 2^64)."""
    value = 0
    shift = 0
    for i in range(10):
        if pos >= len(buf):
            raise BlockError("truncated varint at offset %d" % pos)
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            if value >> 64:
                raise BlockError("varint over 64 bits at offset %d" % (pos - i - 1))
            return value, pos
        shift += 7
    raise BlockError("varint longer than 10 bytes at offset %d" % (pos - 10))


def unzigzag(u):
    return (u >> 1) ^ -(u & 1)


def _take(buf, pos, n, what):
    if pos + n > len(buf):
        raise BlockError("truncated %s at offset %d" % (what, pos))
    return bytes(buf[pos:pos + n]), pos + n


def _check_int_range(ctype, v, field):
    bits = INT_BITS[ctype.base]
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not lo <= v <= hi:
        raise BlockError("field %d: value %d out of %s range" % (field, v, ctype.base))


_DECIMAL_TEXT_RE = re.compile(r"^[+-]?(\d+)(?:\.(\d+))?$")


def check_decimal_text(ctype, text, field):
    """Validates DECIMAL text; returns the text to store (rounded if over scale)."""
    m = _DECIMAL_TEXT_RE.match(text)
    if not m:
        raise BlockError("field %d: bad decimal text %r (plain [-]digits[.digits] expected)"
                         % (field, text))
    precision, scale = ctype.args if len(ctype.args) == 2 else (
        (ctype.args[0], 0) if ctype.args else (38, 18))
    int_digits = len(m.group(1).lstrip("0"))
    if int_digits > precision - scale:
        raise BlockError("field %d: decimal %s overflows decimal(%d,%d)"
                         % (field, text, precision, scale))
    stored = text[1:] if text.startswith("+") else text
    if m.group(2) and len(m.group(2)) > scale:
        q = decimal.Decimal(1).scaleb(-scale)
        stored = str(decimal.Decimal(stored).quantize(q, rounding=decimal.ROUND_HALF_UP))
    return stored


def _decode_varint_value(ctype, body, pos, field, crc):
    u, pos = read_varint(body, pos)
    base = ctype.base
    if base == "boolean":
        if u not in (0, 1):
            raise BlockError("field %d: boolean value %d is not 0/1" % (field, u))
        crc.update(b"\x01" if u else b"\x00")
        return bool(u), pos
    v = unzigzag(u)
    if base in INT_BITS:
        _check_int_range(ctype, v, field)
    elif base == "datetime" and not DATETIME_MIN_MS <= v <= DATETIME_MAX_MS:
        raise BlockError("field %d: datetime %d ms out of range" % (field, v))
    elif base == "date" and not DATE_MIN_DAYS <= v <= DATE_MAX_DAYS:
        raise BlockError("field %d: date %d days out of range" % (field, v))
    crc.update(struct.pack("<q", v))
    return v, pos


def _decode_len_value(ctype, body, pos, field, crc, max_field_size):
    base = ctype.base
    if base in ("timestamp", "timestamp_ntz"):
        s_raw, pos = read_varint(body, pos)
        n_raw, pos = read_varint(body, pos)
        seconds, nanos = unzigzag(s_raw), unzigzag(n_raw)
        if not 0 <= nanos <= 999999999:
            raise BlockError("field %d: timestamp nanos %d out of range" % (field, nanos))
        if not -(1 << 63) <= seconds < (1 << 63):
            raise BlockError("field %d: timestamp seconds out of range" % field)
        crc.update(struct.pack("<q", seconds))
        crc.update(struct.pack("<i", nanos))
        return (seconds, nanos), pos
    length, pos = read_varint(body, pos)
    if length > max_field_size:
        raise BlockError("field %d: %d bytes exceed MaxFieldSize %d"
                         % (field, length, max_field_size))
    raw, pos = _take(body, pos, length, "bytes of field %d" % field)
    crc.update(raw)
    if base == "binary":
        return raw, pos
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BlockError("field %d: value is not valid UTF-8" % field)
    if base == "decimal":
        return check_decimal_text(ctype, text, field), pos
    if base in ("varchar", "char") and ctype.args and len(text) > ctype.args[0]:
        raise BlockError("field %d: %d characters exceed %s" % (field, len(text), ctype.render()))
    return text, pos


def _decode_field(ctype, body, pos, field, crc, max_field_size):
    base = ctype.base
    if base in VARINT_BASES:
        return _decode_varint_value(ctype, body, pos, field, crc)
    if base == "double":
        raw, pos = _take(body, pos, 8, "double of field %d" % field)
        crc.update(raw)
        return struct.unpack("<d", raw)[0], pos
    if base == "float":
        raw, pos = _take(body, pos, 4, "float of field %d" % field)
        crc.update(raw)
        return struct.unpack("<f", raw)[0], pos
    return _decode_len_value(ctype, body, pos, field, crc, max_field_size)


def decode_block(types, body, max_field_size=MAX_FIELD_SIZE):
    """Parses and verifies one uncompressed block against the data column types.

    Returns a list of rows (lists, None = NULL).  Raises BlockError on a bad
    tag or wire type, a field number out of range or not ascending, a record
    or block checksum mismatch, a record-count mismatch, an unterminated
    record or bytes after the trailer.
    """
    rows = []
    row = [None] * len(types)
    crc, crccrc = Crc32c(), Crc32c()
    pos, last_field = 0, 0
    while True:
        if pos >= len(body):
            raise BlockError("stream ends without the META_COUNT/META_CHECKSUM trailer")
        tag, pos = read_varint(body, pos)
        field, wire = tag >> 3, tag & 7
        if field == END_RECORD:
            if wire != WT_VARINT:
                raise BlockError("END_RECORD with wire type %d" % wire)
            got, pos = read_varint(body, pos)
            want = crc.value()
            if got != want:
                raise BlockError("record %d checksum mismatch: stream has 0x%08x, data gives 0x%08x"
                                 % (len(rows), got, want))
            crccrc.update(struct.pack("<I", got))
            crc.reset()
            rows.append(row)
            row = [None] * len(types)
            last_field = 0
            continue
        if field == META_COUNT:
            return _decode_trailer(body, pos, wire, rows, last_field, crccrc)
        if field == META_CHECKSUM:
            raise BlockError("META_CHECKSUM before META_COUNT")
        if not 1 <= field <= len(types):
            raise BlockError("field number %d out of range (table has %d data columns)"
                             % (field, len(types)))
        if field <= last_field:
            raise BlockError("field %d after field %d: fields must ascend" % (field, last_field))
        ctype = types[field - 1]
        if wire != ctype.wire_type:
            raise BlockError("field %d (%s): wire type %d, expected %d"
                             % (field, ctype.render(), wire, ctype.wire_type))
        crc.update(struct.pack("<i", field))
        row[field - 1], pos = _decode_field(ctype, body, pos, field, crc, max_field_size)
        last_field = field


def _decode_trailer(body, pos, wire, rows, last_field, crccrc):
    if wire != WT_VARINT:
        raise BlockError("META_COUNT with wire type %d" % wire)
    if last_field:
        raise BlockError("record %d not terminated by END_RECORD" % len(rows))
    raw, pos = read_varint(body, pos)
    count = unzigzag(raw)
    if count != len(rows):
        raise BlockError("META_COUNT says %d records, stream has %d" % (count, len(rows)))
    tag, pos = read_varint(body, pos)
    if tag != (META_CHECKSUM << 3) | WT_VARINT:
        raise BlockError("expected META_CHECKSUM after META_COUNT")
    got, pos = read_varint(body, pos)
    want = crccrc.value()
    if got != want:
        raise BlockError("block checksum mismatch: stream has 0x%08x, records give 0x%08x"
                         % (got, want))
    if pos != len(body):
        raise BlockError("%d trailing bytes after META_CHECKSUM" % (len(body) - pos))
    return rows


# ---------------------------------------------------------------------------
# JSON storage form of values
# ---------------------------------------------------------------------------


def to_json_value(ctype, v):
    """DATETIME -> epoch ms, DECIMAL -> string, BINARY -> base64, TIMESTAMP ->
    {"seconds","nanos"}, non-finite floats -> "NaN"/"Infinity"/"-Infinity"."""
    if v is None:
        return None
    base = ctype.base
    if base == "binary":
        return base64.b64encode(v).decode("ascii")
    if base in ("timestamp", "timestamp_ntz"):
        return {"seconds": v[0], "nanos": v[1]}
    if base in ("double", "float") and (v != v or v in (float("inf"), float("-inf"))):
        return "NaN" if v != v else ("Infinity" if v > 0 else "-Infinity")
    return v


# ---------------------------------------------------------------------------
# ODPS v2 / v4 request signing
# ---------------------------------------------------------------------------


def parse_query(raw_query):
    """Splits a raw query string into decoded (key, value) pairs; a bare key has ''."""
    pairs = []
    for part in raw_query.split("&") if raw_query else []:
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def canonical_resource(path, params):
    if not params:
        return path
    items = sorted(params, key=lambda kv: (kv[0], kv[1]))
    return path + "?" + "&".join(k if v == "" else "%s=%s" % (k, v) for k, v in items)


def canonical_string(method, path, params, headers):
    """The ODPS string to sign.

    path: percent-decoded, relative to the endpoint (no /api); params: decoded
    (key, value) pairs; headers: name -> value as received (any case).
    """
    signed = {"content-md5": "", "content-type": "", "date": ""}
    for name, value in headers.items():
        lname = name.lower()
        if lname in ("content-md5", "content-type", "date") or lname.startswith("x-odps-"):
            signed[lname] = value
    for key, value in params:
        if key.lower().startswith("x-odps-"):
            signed[key.lower()] = value
    lines = [method.upper()]
    for name in sorted(signed):
        lines.append("%s:%s" % (name, signed[name]) if name.startswith("x-odps-") else signed[name])
    lines.append(canonical_resource(path, params))
    return "\n".join(lines)


def sign_v2(secret, canonical):
    digest = hmac.new(secret.encode("utf-8"), canonical.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def sign_v4(secret, canonical, yyyymmdd, region):
    key = hmac.new(("aliyun_v4" + secret).encode("utf-8"), yyyymmdd.encode(), hashlib.sha256).digest()
    for part in (region, "odps", "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    digest = hmac.new(key, canonical.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class ApiError(Exception):
    """An error answer: HTTP status, service error Code, Message."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


DEFAULT_CODES = {400: "InvalidArgument", 401: "Unauthorized", 403: "NoPermission",
                 404: "NoSuchObject", 409: "StatusConflict", 429: "FlowExceeded",
                 500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable",
                 504: "GatewayTimeout"}


def cdata(text):
    """Wraps text in CDATA, splitting any ']]>' inside it."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_error_body(code, message, request_id):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>%s</Code>\n'
            '  <Message>%s</Message>\n  <RequestId>%s</RequestId>\n'
            '  <HostId>127.0.0.1</HostId>\n</Error>\n'
            % (code, cdata(message), request_id)).encode("utf-8")


def json_error_body(code, message, request_id):
    return json.dumps({"Code": code, "Message": message, "RequestId": request_id}).encode("utf-8")


def rfc1123(ts=None):
    return email.utils.formatdate(ts if ts is not None else time.time(), usegmt=True)


def new_request_id():
    return "%s%s" % (time.strftime("%Y%m%d%H%M%S", time.gmtime()), os.urandom(8).hex())


# ---------------------------------------------------------------------------
# Names and partition specs
# ---------------------------------------------------------------------------

_NAME_RE = re.compile(r"^[A-Za-z0-9_]{1,128}$")
_TABLE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_BAD_PARTITION_CHARS = set("/\\=,'\"")
_DIR_SAFE = set(string.ascii_letters + string.digits + "_-.:$#!@ ")


def partition_value_problem(value):
    """Returns why a partition value is not acceptable, or None."""
    if value == "":
        return "empty partition value"
    if len(value.encode("utf-8")) > 255:
        return "partition value longer than 255 bytes"
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) > 0x7E:
            return "partition value %r has a non-printable or non-ASCII character" % value
        if ch in _BAD_PARTITION_CHARS:
            return "partition value %r has the character %r" % (value, ch)
    return None


def encode_dir_value(value):
    return "".join(ch if ch in _DIR_SAFE else "%%%02X" % ord(ch) for ch in value)


def spec_text(spec):
    return ",".join("%s=%s" % kv for kv in spec)


def spec_sql(spec):
    return ",".join("%s='%s'" % kv for kv in spec)


# ---------------------------------------------------------------------------
# Storage: tables, partitions, rows on disk
# ---------------------------------------------------------------------------


class TableMeta:
    """A table's schema: data columns and partition keys as (name, ColumnType, comment)."""

    def __init__(self, project, schema, name, columns, partition_keys, comment="",
                 lifecycle=None, created_ms=None):
        self.project = project
        self.schema = schema
        self.name = name
        self.columns = columns
        self.partition_keys = partition_keys
        self.comment = comment
        self.lifecycle = lifecycle
        self.created_ms = created_ms if created_ms is not None else int(time.time() * 1000)

    @property
    def full_name(self):
        if self.schema != "default":
            return "%s.%s.%s" % (self.project, self.schema, self.name)
        return "%s.%s" % (self.project, self.name)

    @property
    def column_types(self):
        return [c[1] for c in self.columns]

    def to_json(self):
        def cols(items):
            return [{"name": n, "type": t.render(), "comment": c, "nullable": True}
                    for n, t, c in items]
        return {"project": self.project, "schema": self.schema, "name": self.name,
                "comment": self.comment, "lifecycle": self.lifecycle,
                "created_ms": self.created_ms, "columns": cols(self.columns),
                "partition_keys": cols(self.partition_keys)}

    @classmethod
    def from_json(cls, obj):
        def cols(items):
            return [(c["name"], parse_type_text(c["type"]), c.get("comment", "")) for c in items]
        return cls(obj["project"], obj.get("schema", "default"), obj["name"],
                   cols(obj["columns"]), cols(obj.get("partition_keys", [])),
                   obj.get("comment", ""), obj.get("lifecycle"), obj.get("created_ms"))


def write_json_atomic(path, obj):
    """Writes JSON to a temp file in the same directory, fsyncs it, renames it."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Warehouse:
    """Projects, tables and committed rows under the --data directory.

    DATA/<project>/<table>/schema.json and DATA/<project>/<table>/k1=v1/.../rows.json
    (rows.json directly in the table directory for an unpartitioned table).
    A partition exists iff its directory exists.  Callers hold ``lock``.
    """

    def __init__(self, root, projects=None):
        self.root = os.path.abspath(root)
        self.fixed_projects = set(projects) if projects else None
        self.lock = threading.RLock()
        os.makedirs(self.root, exist_ok=True)
        for p in projects or []:
            os.makedirs(os.path.join(self.root, p), exist_ok=True)

    def check_project(self, project):
        if not _NAME_RE.match(project) or (
                self.fixed_projects is not None and project not in self.fixed_projects):
            raise ApiError(404, "NoSuchProject", "Project not found - '%s'." % project)
        os.makedirs(os.path.join(self.root, project), exist_ok=True)

    def table_dir(self, project, schema, name):
        leaf = name if schema == "default" else "%s.%s" % (schema, name)
        return os.path.join(self.root, project, leaf)

    def load_table(self, project, schema, name):
        path = os.path.join(self.table_dir(project, schema, name.lower()), "schema.json")
        try:
            with open(path, encoding="utf-8") as f:
                return TableMeta.from_json(json.load(f))
        except FileNotFoundError:
            return None

    def create_table(self, meta):
        directory = self.table_dir(meta.project, meta.schema, meta.name)
        os.makedirs(directory, exist_ok=True)
        if not meta.partition_keys:
            write_json_atomic(os.path.join(directory, "rows.json"), [])
        write_json_atomic(os.path.join(directory, "schema.json"), meta.to_json())

    def drop_table(self, meta):
        shutil.rmtree(self.table_dir(meta.project, meta.schema, meta.name), ignore_errors=True)

    def data_dir(self, meta, spec):
        parts = [self.table_dir(meta.project, meta.schema, meta.name)]
        parts += ["%s=%s" % (k, encode_dir_value(v)) for k, v in spec or []]
        return os.path.join(*parts)

    def partition_exists(self, meta, spec):
        return os.path.isfile(os.path.join(self.data_dir(meta, spec), "rows.json"))

    def add_partition(self, meta, spec):
        directory = self.data_dir(meta, spec)
        os.makedirs(directory, exist_ok=True)
        write_json_atomic(os.path.join(directory, "rows.json"), [])

    def drop_partition(self, meta, spec):
        shutil.rmtree(self.data_dir(meta, spec), ignore_errors=True)

    def read_rows(self, meta, spec):
        with open(os.path.join(self.data_dir(meta, spec), "rows.json"), encoding="utf-8") as f:
            return json.load(f)

    def write_rows(self, meta, spec, rows):
        write_json_atomic(os.path.join(self.data_dir(meta, spec), "rows.json"), rows)

    def list_partitions(self, meta):
        """All partition specs of a partitioned table, as [(key, value), ...] lists."""
        specs = [[]]
        for key, _, _ in meta.partition_keys:
            deeper = []
            for spec in specs:
                directory = self.data_dir(meta, spec)
                for entry in sorted(os.listdir(directory)) if os.path.isdir(directory) else []:
                    prefix = key + "="
                    if entry.startswith(prefix) and os.path.isdir(os.path.join(directory, entry)):
                        deeper.append(spec + [(key, unquote(entry[len(prefix):]))])
            specs = deeper
        return [s for s in specs if self.partition_exists(meta, s)]

    def wipe(self):
        for entry in os.listdir(self.root):
            path = os.path.join(self.root, entry)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
        for p in self.fixed_projects or []:
            os.makedirs(os.path.join(self.root, p), exist_ok=True)


# ---------------------------------------------------------------------------
# SQL: lexer
# ---------------------------------------------------------------------------


class SqlError(Exception):
    """A failed SQL task; str() is the text the task result carries."""

    PARSE = ("ODPS-0130161", "Parse exception")
    SEMANTIC = ("ODPS-0130071", "Semantic analysis exception")
    NO_TABLE = ("ODPS-0130131", "Table not found")
    EXISTS = ("ODPS-0130111", "Subject already exists")

    def __init__(self, kind, line, col, message):
        code, label = kind
        super().__init__("%s:[%d,%d] %s - %s" % (code, line, col, label, message))


class Token:
    __slots__ = ("kind", "value", "line", "col")

    def __init__(self, kind, value, line, col):
        self.kind, self.value, self.line, self.col = kind, value, line, col

    def is_word(self, *words):
        return self.kind == "IDENT" and self.value.upper() in words

    def text(self):
        return self.value if self.kind != "EOF" else "<EOF>"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "0": "\0"}


class Lexer:
    """Splits SQL text into IDENT, QIDENT (backquoted), STRING, NUMBER, PUNCT, EOF."""

    def __init__(self, text):
        self.text = text
        self.pos = 0
        self.line = 1
        self.col = 1

    def _advance(self, n=1):
        for _ in range(n):
            if self.text[self.pos] == "\n":
                self.line += 1
                self.col = 1
            else:
                self.col += 1
            self.pos += 1

    def _peek(self, k=0):
        i = self.pos + k
        return self.text[i] if i < len(self.text) else ""

    def _skip_space_and_comments(self):
        while self.pos < len(self.text):
            ch = self._peek()
            if ch.isspace():
                self._advance()
            elif ch == "-" and self._peek(1) == "-":
                while self.pos < len(self.text) and self._peek() != "\n":
                    self._advance()
            elif ch == "/" and self._peek(1) == "*":
                end = self.text.find("*/", self.pos + 2)
                self._advance((end + 2 if end >= 0 else len(self.text)) - self.pos)
            else:
                return

    def tokens(self):
        out = []
        while True:
            self._skip_space_and_comments()
            if self.pos >= len(self.text):
                out.append(Token("EOF", "", self.line, self.col))
                return out
            out.append(self._next_token())

    def _next_token(self):
        line, col, ch = self.line, self.col, self._peek()
        if ch.isalpha() or ch == "_":
            start = self.pos
            while self._peek() and (self._peek().isalnum() or self._peek() == "_"):
                self._advance()
            return Token("IDENT", self.text[start:self.pos], line, col)
        if ch.isdigit():
            start = self.pos
            while self._peek() and (self._peek().isdigit() or self._peek() == "."):
                self._advance()
            return Token("NUMBER", self.text[start:self.pos], line, col)
        if ch == "`":
            return Token("QIDENT", self._quoted("`", line, col, escapes=False), line, col)
        if ch in ("'", '"'):
            return Token("STRING", self._quoted(ch, line, col, escapes=True), line, col)
        self._advance()
        return Token("PUNCT", ch, line, col)

    def _quoted(self, quote_char, line, col, escapes):
        self._advance()
        buf = []
        while True:
            ch = self._peek()
            if ch == "":
                what = "backquoted identifier" if quote_char == "`" else "string literal"
                raise SqlError(SqlError.PARSE, line, col, "unterminated %s" % what)
            if ch == quote_char:
                if not escapes and self._peek(1) == quote_char:
                    buf.append(ch)
                    self._advance(2)
                    continue
                self._advance()
                return "".join(buf)
            if escapes and ch == "\\" and self._peek(1):
                nxt = self._peek(1)
                buf.append(_ESCAPES.get(nxt, nxt))
                self._advance(2)
                continue
            buf.append(ch)
            self._advance()


# ---------------------------------------------------------------------------
# SQL: parser and executor
# ---------------------------------------------------------------------------


class SqlResult:
    def __init__(self, text="OK", fmt="text"):
        self.text = text
        self.format = fmt


class SqlEngine:
    """Parses one statement (after optional SET statements) and runs it."""

    def __init__(self, warehouse, project, text):
        self.wh = warehouse
        self.project = project
        self.toks = Lexer(text).tokens()
        self.i = 0

    # -- token helpers --
    @property
    def tok(self):
        return self.toks[self.i]

    def _next(self):
        t = self.toks[self.i]
        if t.kind != "EOF":
            self.i += 1
        return t

    def _fail(self, tok=None, expected=None):
        tok = tok or self.tok
        msg = "invalid token '%s'" % tok.text()
        if expected:
            msg += ", expect %s" % expected
        raise SqlError(SqlError.PARSE, tok.line, tok.col, msg)

    def _word(self, *words):
        if self.tok.is_word(*words):
            return self._next()
        self._fail(expected=" or ".join("'%s'" % w for w in words))

    def _maybe_word(self, *words):
        if self.tok.is_word(*words):
            return self._next()
        return None

    def _punct(self, ch):
        if self.tok.kind == "PUNCT" and self.tok.value == ch:
            return self._next()
        self._fail(expected="'%s'" % ch)

    def _maybe_punct(self, ch):
        if self.tok.kind == "PUNCT" and self.tok.value == ch:
            return self._next()
        return None

    def _ident(self):
        if self.tok.kind in ("IDENT", "QIDENT"):
            return self._next()
        self._fail(expected="an identifier")

    def _string(self):
        if self.tok.kind == "STRING":
            return self._next().value
        self._fail(expected="a string literal")

    def _integer(self):
        if self.tok.kind == "NUMBER" and self.tok.value.isdigit():
            return int(self._next().value)
        self._fail(expected="an integer")

    # -- statements --
    def run(self):
        while self.tok.is_word("SET"):
            while not (self.tok.kind == "PUNCT" and self.tok.value == ";"):
                if self.tok.kind == "EOF":
                    self._fail(expected="';'")
                self._next()
            self._next()
        start = self.tok
        if start.is_word("CREATE"):
            result = self._create_table()
        elif start.is_word("ALTER"):
            result = self._alter_table()
        elif start.is_word("DROP"):
            result = self._drop_table()
        elif start.is_word("SELECT"):
            result = self._select_count()
        else:
            self._fail()
        self._punct(";")
        if self.tok.kind != "EOF":
            raise SqlError(SqlError.PARSE, self.tok.line, self.tok.col,
                           "invalid token '%s', the emulator runs one statement per SQL task"
                           % self.tok.text())
        return result

    def _table_name(self):
        """[project.][schema.]table -> (project, schema, name, first token)."""
        first = self._ident()
        parts = [first]
        while self._maybe_punct("."):
            parts.append(self._ident())
        if len(parts) > 3:
            self._fail(parts[3])
        names = [p.value for p in parts]
        project = names[0] if len(names) >= 2 else self.project
        schema = names[1].lower() if len(names) == 3 else "default"
        table = names[-1]
        if not _TABLE_RE.match(table):
            raise SqlError(SqlError.SEMANTIC, parts[-1].line, parts[-1].col,
                           "invalid table name '%s'" % table)
        try:
            self.wh.check_project(project)
        except ApiError:
            raise SqlError(SqlError.SEMANTIC, first.line, first.col,
                           "project '%s' not found" % project)
        return project, schema, table.lower(), first

    def _require_table(self, project, schema, name, tok):
        meta = self.wh.load_table(project, schema, name)
        if meta is None:
            raise SqlError(SqlError.NO_TABLE, tok.line, tok.col,
                           "table %s.%s cannot be resolved" % (project, name))
        return meta

    def _column_type(self):
        tok = self._ident()
        base = tok.value.lower()
        if base == "timestamp_ntz" or base in WIRE_TYPES:
            pass
        else:
            self._fail(tok, "a primitive type (BIGINT DOUBLE BOOLEAN STRING DATETIME DECIMAL ...)")
        args = []
        if self._maybe_punct("("):
            args.append(self._integer())
            while self._maybe_punct(","):
                args.append(self._integer())
            self._punct(")")
        return self._check_type(ColumnType(base, args), tok)

    def _check_type(self, ctype, tok):
        base, args = ctype.base, ctype.args
        ok = True
        if base == "decimal":
            if not args:
                ctype = ColumnType("decimal", (38, 18))
            elif len(args) == 1:
                ctype = ColumnType("decimal", (args[0], 0))
            p, s = ctype.args[0], ctype.args[1] if len(ctype.args) > 1 else 0
            ok = len(ctype.args) == 2 and 1 <= p <= 38 and 0 <= s <= 18 and s <= p
        elif base == "varchar":
            ok = len(args) == 1 and 1 <= args[0] <= 65535
        elif base == "char":
            ok = len(args) == 1 and 1 <= args[0] <= 255
        else:
            ok = not args
        if not ok:
            raise SqlError(SqlError.SEMANTIC, tok.line, tok.col,
                           "invalid type %s" % ctype.render())
        return ctype

    def _column_defs(self):
        self._punct("(")
        defs = [self._column_def()]
        while self._maybe_punct(","):
            defs.append(self._column_def())
        self._punct(")")
        return defs

    def _column_def(self):
        tok = self._ident()
        if not _NAME_RE.match(tok.value):
            raise SqlError(SqlError.SEMANTIC, tok.line, tok.col,
                           "invalid column name '%s'" % tok.value)
        ctype = self._column_type()
        if self._maybe_word("NOT"):
            self._word("NULL")
        comment = self._string() if self._maybe_word("COMMENT") else ""
        return (tok.value.lower(), ctype, comment, tok)

    def _create_table(self):
        self._word("CREATE")
        self._word("TABLE")
        if_not_exists = False
        if self._maybe_word("IF"):
            self._word("NOT")
            self._word("EXISTS")
            if_not_exists = True
        project, schema, name, name_tok = self._table_name()
        columns = self._column_defs()
        comment = self._string() if self._maybe_word("COMMENT") else ""
        pkeys = []
        if self._maybe_word("PARTITIONED"):
            self._word("BY")
            pkeys = self._column_defs()
        lifecycle = None
        if self._maybe_word("LIFECYCLE"):
            tok = self.tok
            lifecycle = self._integer()
            if lifecycle < 1:
                raise SqlError(SqlError.SEMANTIC, tok.line, tok.col, "lifecycle must be positive")
        self._check_columns(columns, pkeys)
        meta = TableMeta(project, schema, name, [c[:3] for c in columns],
                         [c[:3] for c in pkeys], comment, lifecycle)
        with self.wh.lock:
            if self.wh.load_table(project, schema, name) is not None:
                if if_not_exists:
                    return SqlResult()
                raise SqlError(SqlError.SEMANTIC, name_tok.line, name_tok.col,
                               "Table or view already exists - %s" % meta.full_name)
            self.wh.create_table(meta)
        return SqlResult()

    def _check_columns(self, columns, pkeys):
        seen = set()
        for name, ctype, _, tok in columns + pkeys:
            if name in seen:
                raise SqlError(SqlError.SEMANTIC, tok.line, tok.col,
                               "column repeated in creation: %s" % name)
            seen.add(name)
        for name, ctype, _, tok in pkeys:
            if ctype.base not in PARTITION_KEY_BASES:
                raise SqlError(SqlError.SEMANTIC, tok.line, tok.col,
                               "partition column %s has unsupported type %s"
                               % (name, ctype.render()))
        if len(pkeys) > 6:
            raise SqlError(SqlError.SEMANTIC, pkeys[6][3].line, pkeys[6][3].col,
                           "too many partition levels (at most 6)")

    def _partition_spec(self, meta):
        """PARTITION (k='v', ...) -> the spec in the table's key order."""
        self._word("PARTITION")
        open_tok = self._punct("(")
        given = {}
        while True:
            key_tok = self._ident()
            self._punct("=")
            if self.tok.kind in ("STRING", "NUMBER"):
                value = self._next().value
            else:
                self._fail(expected="a literal")
            key = key_tok.value.lower()
            if key in given or key not in [k for k, _, _ in meta.partition_keys]:
                raise SqlError(SqlError.SEMANTIC, key_tok.line, key_tok.col,
                               "invalid partition key '%s' for table %s"
                               % (key_tok.value, meta.full_name))
            problem = partition_value_problem(value)
            if problem:
                raise SqlError(SqlError.SEMANTIC, key_tok.line, key_tok.col, problem)
            given[key] = value
            if not self._maybe_punct(","):
                break
        self._punct(")")
        if len(given) != len(meta.partition_keys):
            raise SqlError(SqlError.SEMANTIC, open_tok.line, open_tok.col,
                           "partition spec must give every partition key of %s (%s)"
                           % (meta.full_name, ",".join(k for k, _, _ in meta.partition_keys)))
        return [(k, given[k]) for k, _, _ in meta.partition_keys]

    def _alter_table(self):
        self._word("ALTER")
        self._word("TABLE")
        project, schema, name, name_tok = self._table_name()
        action = self._word("ADD", "DROP")
        flag = False
        if self._maybe_word("IF"):
            if action.is_word("ADD"):
                self._word("NOT")
            self._word("EXISTS")
            flag = True
        with self.wh.lock:
            meta = self._require_table(project, schema, name, name_tok)
            if not meta.partition_keys:
                raise SqlError(SqlError.SEMANTIC, name_tok.line, name_tok.col,
                               "table %s is not partitioned" % meta.full_name)
            specs = [(self.tok, self._partition_spec(meta))]
            while self.tok.is_word("PARTITION"):
                specs.append((self.tok, self._partition_spec(meta)))
            if not (self.tok.kind == "PUNCT" and self.tok.value == ";"):
                self._fail(expected="';'")
            for tok, spec in specs:
                self._apply_partition_change(meta, action.is_word("ADD"), flag, tok, spec)
        return SqlResult()

    def _apply_partition_change(self, meta, add, flag, tok, spec):
        exists = self.wh.partition_exists(meta, spec)
        if add and exists and not flag:
            raise SqlError(SqlError.EXISTS, tok.line, tok.col,
                           "Partition already exists - %s partition(%s)"
                           % (meta.full_name, spec_sql(spec)))
        if not add and not exists and not flag:
            raise SqlError(SqlError.SEMANTIC, tok.line, tok.col,
                           "partition not found - %s partition(%s)"
                           % (meta.full_name, spec_sql(spec)))
        if add and not exists:
            self.wh.add_partition(meta, spec)
        elif not add and exists:
            self.wh.drop_partition(meta, spec)

    def _drop_table(self):
        self._word("DROP")
        self._word("TABLE")
        if_exists = False
        if self._maybe_word("IF"):
            self._word("EXISTS")
            if_exists = True
        project, schema, name, name_tok = self._table_name()
        if not (self.tok.kind == "PUNCT" and self.tok.value == ";"):
            self._fail(expected="';'")
        with self.wh.lock:
            meta = self.wh.load_table(project, schema, name)
            if meta is None:
                if if_exists:
                    return SqlResult()
                self._require_table(project, schema, name, name_tok)
            self.wh.drop_table(meta)
        return SqlResult()

    def _select_count(self):
        self._word("SELECT")
        self._word("COUNT")
        self._punct("(")
        if not (self._maybe_punct("*") or (self.tok.kind == "NUMBER" and self._next())):
            self._fail(expected="'*'")
        self._punct(")")
        alias = "_c0"
        if self._maybe_word("AS"):
            alias = self._ident().value
        elif self.tok.kind in ("IDENT", "QIDENT") and not self.tok.is_word("FROM"):
            alias = self._next().value
        self._word("FROM")
        project, schema, name, name_tok = self._table_name()
        conditions = self._where()
        if not (self.tok.kind == "PUNCT" and self.tok.value == ";"):
            self._fail(expected="';'")
        with self.wh.lock:
            meta = self._require_table(project, schema, name, name_tok)
            count = self._count_rows(meta, conditions)
        return SqlResult('"%s"\n%d\n' % (alias.replace('"', '""'), count), "csv")

    def _where(self):
        conditions = []
        if not self._maybe_word("WHERE"):
            return conditions
        while True:
            col = self._ident()
            self._punct("=")
            if self.tok.kind not in ("STRING", "NUMBER"):
                self._fail(expected="a literal")
            conditions.append((col, self._next().value))
            if not self._maybe_word("AND"):
                return conditions

    def _count_rows(self, meta, conditions):
        pkeys = [k for k, _, _ in meta.partition_keys]
        types = {n: t for n, t, _ in meta.columns}
        part_conds, row_conds = {}, []
        for col_tok, literal in conditions:
            col = col_tok.value.lower()
            if col in pkeys:
                part_conds[col] = literal
            elif col in types:
                row_conds.append((col, types[col], literal))
            else:
                raise SqlError(SqlError.SEMANTIC, col_tok.line, col_tok.col,
                               "column %s cannot be resolved" % col_tok.value)
        specs = self.wh.list_partitions(meta) if pkeys else [None]
        total = 0
        for spec in specs:
            if spec and any(dict(spec)[k] != v for k, v in part_conds.items()):
                continue
            for row in self.wh.read_rows(meta, spec):
                if all(value_matches(t, row.get(c), lit) for c, t, lit in row_conds):
                    total += 1
        return total


def value_matches(ctype, stored, literal):
    """Equality of a stored JSON value and a SQL literal (NULL never matches)."""
    if stored is None:
        return False
    if ctype.base == "boolean":
        return str(stored).lower() == literal.lower()
    if ctype.base in INT_BITS or ctype.base in ("double", "float", "decimal", "datetime", "date"):
        try:
            return decimal.Decimal(str(stored)) == decimal.Decimal(literal)
        except decimal.InvalidOperation:
            return False
    return str(stored) == literal


# ---------------------------------------------------------------------------
# Upload sessions and SQL instances
# ---------------------------------------------------------------------------


class Block:
    def __init__(self, rows):
        self.rows = rows
        self.created = time.time()
        self.version = int(self.created * 1000)


class UploadSession:
    def __init__(self, meta, spec, overwrite, owner):
        self.id = "%s%s" % (time.strftime("%Y%m%d%H%M%S", time.gmtime()), os.urandom(8).hex())
        self.project = meta.project
        self.schema = meta.schema
        self.table = meta.name
        self.spec = spec
        self.overwrite = overwrite
        self.owner = owner
        self.created = time.time()
        self.status = "normal"
        self.blocks = {}


class Instance:
    def __init__(self, project, task_name, query, owner, running_polls):
        self.id = "%s%03dg%s" % (time.strftime("%Y%m%d%H%M%S", time.gmtime()),
                                 int(time.time() * 1000) % 1000,
                                 "".join(random.choice(string.ascii_lowercase + string.digits)
                                         for _ in range(8)))
        self.project = project
        self.task_name = task_name
        self.query = query
        self.owner = owner
        self.start = time.time()
        self.end = None
        self.task_status = "Running"
        self.result = SqlResult("", "text")
        self.running_polls = running_polls

    def finish(self, success, result):
        self.task_status = "Success" if success else "Failed"
        self.result = result
        self.end = time.time()

    def poll_status(self):
        """Instance status for one poll: Running while running_polls remain."""
        if self.running_polls > 0:
            self.running_polls -= 1
            return "Running", "Running"
        return "Terminated", self.task_status


# ---------------------------------------------------------------------------
# Fault injection
# ---------------------------------------------------------------------------


class Rule:
    """Fires on the nth..(nth+times-1)th matching request (times < 0: for ever)."""

    def __init__(self, spec, allowed=()):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule must be a JSON object")
        unknown = set(spec) - {"nth", "times"} - set(allowed)
        if unknown:
            raise ValueError("unknown fault option(s): %s" % ", ".join(sorted(unknown)))
        self.spec = dict(spec)
        self.nth = int(spec.get("nth", 1))
        self.times = int(spec.get("times", 1))
        self.seen = 0
        self.fired = 0

    def hit(self):
        self.seen += 1
        if self.seen >= self.nth and (self.times < 0 or self.fired < self.times):
            self.fired += 1
            return True
        return False

    def get(self, key, default=None):
        return self.spec.get(key, default)

    def to_json(self):
        return dict(self.spec, seen=self.seen, fired=self.fired)


ERROR_OPTIONS = ("status", "code", "message", "headers")
FAULT_OPTIONS = {
    "fail_block_put": ERROR_OPTIONS + ("after_apply",),
    "fail_commit": ERROR_OPTIONS + ("after_apply",),
    "fail_create_session": ERROR_OPTIONS,
    "fail_session_status": ERROR_OPTIONS,
    "fail_discovery": ERROR_OPTIONS,
    "fail_request": ERROR_OPTIONS + ("method", "path_contains", "endpoint"),
    "drop_block_put_mid_body": ("after_bytes",),
    "drop_commit_reply": (),
    "reject_signature": ("endpoint",),
    "fail_sql": ("mode", "status", "code", "message", "match"),
}
DELAY_OPS = ("block_put", "commit", "create_session", "session_status", "discovery",
             "sql_submit", "instance_get", "any")


class Faults:
    """The active fault knobs (replaced as a whole by POST /__emulator/faults)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rules = {}
        self.delays = {}
        self.instance_running_polls = 0

    def configure(self, spec):
        if not isinstance(spec, dict):
            raise ValueError("faults must be a JSON object")
        rules, delays, polls = {}, {}, 0
        for name, value in spec.items():
            if name in FAULT_OPTIONS:
                rules[name] = Rule(value, FAULT_OPTIONS[name])
            elif name == "delay_ms":
                delays = self._parse_delays(value)
            elif name == "instance_running_polls":
                polls = int(value)
            else:
                raise ValueError("unknown fault knob %r" % name)
        with self.lock:
            self.rules, self.delays, self.instance_running_polls = rules, delays, polls

    @staticmethod
    def _parse_delays(value):
        if not isinstance(value, dict):
            raise ValueError("delay_ms must map an operation to milliseconds")
        delays = {}
        for op, v in value.items():
            if op not in DELAY_OPS:
                raise ValueError("unknown delay_ms operation %r (one of %s)" % (op, ", ".join(DELAY_OPS)))
            rule = Rule(v if isinstance(v, dict) else {"ms": v, "times": -1}, ("ms",))
            rule.ms = int(rule.get("ms", 0))
            delays[op] = rule
        return delays

    def clear(self):
        self.configure({})

    def fire(self, name, predicate=None):
        """The rule `name` if it exists, matches and fires now, else None."""
        with self.lock:
            rule = self.rules.get(name)
            if rule is None or (predicate is not None and not predicate(rule)):
                return None
            return rule if rule.hit() else None

    def delay_for(self, op):
        total = 0
        with self.lock:
            for key in (op, "any"):
                rule = self.delays.get(key)
                if rule is not None and rule.hit():
                    total += rule.ms
        return total / 1000.0

    def take_running_polls(self):
        with self.lock:
            return self.instance_running_polls

    def to_json(self):
        with self.lock:
            out = {name: rule.to_json() for name, rule in self.rules.items()}
            if self.delays:
                out["delay_ms"] = {op: r.to_json() for op, r in self.delays.items()}
            if self.instance_running_polls:
                out["instance_running_polls"] = self.instance_running_polls
            return out


def fault_error(rule, default_status=500, default_message="fault injected by mc_emulator"):
    status = int(rule.get("status", default_status))
    code = rule.get("code") or DEFAULT_CODES.get(status, "InternalServerError")
    return ApiError(status, code, rule.get("message", default_message), rule.get("headers"))


# ---------------------------------------------------------------------------
# Emulator state shared by all handler threads
# ---------------------------------------------------------------------------


class Emulator:
    def __init__(self, args):
        self.access_id = args.access_id
        self.access_key = args.access_key
        self.max_skew = args.max_skew_seconds
        self.session_ttl = args.session_ttl_seconds
        self.verbose = args.verbose
        self.warehouse = Warehouse(args.data, args.project)
        self.faults = Faults()
        self.lock = threading.Lock()
        self.sessions = {}
        self.instances = {}
        self.log = []
        self.log_seq = 0
        self.base_url = None
        self.tunnel_host = None

    @property
    def owner(self):
        return "ALIYUN$%s" % self.access_id

    def add_log(self, entry):
        with self.lock:
            self.log_seq += 1
            entry["seq"] = self.log_seq
            self.log.append(entry)
            if len(self.log) > 20000:
                del self.log[:len(self.log) - 20000]

    def reset(self, wipe_data):
        self.faults.clear()
        with self.lock:
            self.log = []
            self.sessions = {}
            self.instances = {}
        if wipe_data:
            with self.warehouse.lock:
                self.warehouse.wipe()


# ---------------------------------------------------------------------------
# HTTP handler
# ---------------------------------------------------------------------------

MAX_BODY = 512 * 1024 * 1024
TUNNEL_VERSIONS = ("4", "5", "6")


class DropConnection(Exception):
    """Close the connection abruptly (RST) without an answer."""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mc-emulator/1.0"
    emu = None  # set on the subclass made by make_server()

    # -- plumbing --
    def log_message(self, fmt, *args):
        if self.emu.verbose:
            sys.stderr.write("mc_emulator: %s\n" % (fmt % args))

    def do_GET(self):
        self.dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def dispatch(self):
        raw_path, _, raw_query = self.path.partition("?")
        self.req_path = unquote(raw_path)
        self.params = parse_query(raw_query)
        self.param = {k: v for k, v in self.params}
        self.request_id = new_request_id()
        self.is_service = self.req_path == "/api" or self.req_path.startswith("/api/")
        self.entry = {"time": time.time(), "method": self.command, "target": self.path,
                      "path": self.req_path, "params": dict(self.param),
                      "endpoint": "service" if self.is_service else "tunnel",
                      "headers": {k: v for k, v in self.headers.items()},
                      "status": None, "code": None, "fault": None}
        if self.req_path.startswith("/__emulator/"):
            return self.control()
        try:
            self.route()
        except ApiError as err:
            self.send_error_reply(err)
        except DropConnection:
            self.drop()
        except (ConnectionError, socket.timeout):
            self.close_connection = True
        except Exception as exc:  # a bug in the emulator: report it as a 500
            self.send_error_reply(ApiError(500, "InternalServerError",
                                           "emulator error: %s: %s" % (type(exc).__name__, exc)))
        finally:
            self.emu.add_log(self.entry)

    def drop(self):
        self.entry["status"] = None
        self.entry["dropped"] = True
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def read_body(self, limit=None):
        """The request body (chunked or Content-Length), at most `limit` bytes if given."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked(limit)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            n = int(length)
        except ValueError:
            raise ApiError(400, "InvalidArgument", "bad Content-Length %r" % length)
        if n > MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "InvalidArgument", "body too large")
        want = n if limit is None else min(n, limit)
        data = self.rfile.read(want)
        if len(data) < want:
            self.close_connection = True
            raise ApiError(400, "IncompleteBody", "You did not provide the number of bytes "
                           "specified by the Content-Length HTTP header")
        return data

    def _read_chunked(self, limit):
        out = bytearray()
        while True:
            line = self.rfile.readline(65537)
            if not line:
                self.close_connection = True
                raise ApiError(400, "IncompleteBody", "chunked body ended early")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError(400, "InvalidArgument", "bad chunk size line %r" % line[:40])
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            if limit is not None and len(out) + size >= limit:
                out += self.rfile.read(limit - len(out))
                return bytes(out)
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                self.close_connection = True
                raise ApiError(400, "IncompleteBody", "chunked body ended inside a chunk")
            out += chunk
            self.rfile.read(2)
            if len(out) > MAX_BODY:
                self.close_connection = True
                raise ApiError(413, "InvalidArgument", "body too large")

    def reply(self, status, body=b"", content_type=None, headers=None):
        self.entry["status"] = status
        self.send_response(status)
        self.send_header("x-odps-request-id", self.request_id)
        if content_type:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_error_reply(self, err):
        self.entry["code"] = err.code
        self.entry.setdefault("message", err.message)
        if self.is_service:
            self.reply(err.status, xml_error_body(err.code, err.message, self.request_id),
                       "application/xml", err.headers)
        else:
            self.reply(err.status, json_error_body(err.code, err.message, self.request_id),
                       "application/json", err.headers)

    def reply_json(self, status, obj):
        self.reply(status, json.dumps(obj).encode("utf-8"), "application/json")

    def reply_xml(self, status, text, headers=None):
        self.reply(status, text.encode("utf-8"), "application/xml", headers)

    # -- control API (unsigned) --
    def control(self):
        try:
            body = self.read_body()
        except ApiError as err:
            return self.reply_json(err.status, {"error": err.message})
        name = self.req_path[len("/__emulator/"):]
        try:
            if name == "faults" and self.command == "POST":
                self.emu.faults.configure(json.loads(body or b"{}"))
                return self.reply_json(200, self.emu.faults.to_json())
            if name == "faults" and self.command == "GET":
                return self.reply_json(200, self.emu.faults.to_json())
            if name == "log" and self.command == "GET":
                since = int(self.param.get("since", "0") or 0)
                with self.emu.lock:
                    entries = [e for e in self.emu.log if e["seq"] > since]
                return self.reply_json(200, {"requests": entries})
            if name == "reset" and self.command == "POST":
                opts = json.loads(body or b"{}")
                self.emu.reset(bool(opts.get("data")))
                return self.reply_json(200, {"reset": True, "data": bool(opts.get("data"))})
        except (ValueError, TypeError) as exc:
            return self.reply_json(400, {"error": str(exc)})
        self.reply_json(404, {"error": "unknown control call %s %s" % (self.command, self.req_path)})

    # -- signed API --
    def route(self):
        op = self.operation()
        self.entry["op"] = op
        if op == "block_put":
            rule = self.emu.faults.fire("drop_block_put_mid_body")
            if rule is not None:
                self.entry["fault"] = "drop_block_put_mid_body"
                self.read_body(limit=int(rule.get("after_bytes", 16)))
                raise DropConnection()
        body = self.read_body()
        self.entry["body_bytes"] = len(body)
        self.authenticate()
        self.check_generic_faults(op)
        delay = self.emu.faults.delay_for(op)
        if delay:
            self.entry["delay_ms"] = int(delay * 1000)
            time.sleep(delay)
        if self.is_service:
            self.route_service(body)
        else:
            self.route_tunnel(body)

    def operation(self):
        """A short name of what the request does (used by fault knobs and the log)."""
        p, m = self.param, self.command
        if self.is_service:
            if self.req_path.endswith("/tunnel"):
                return "discovery"
            if self.req_path.endswith("/instances") and m == "POST":
                return "sql_submit"
            return "instance_get" if "/instances/" in self.req_path else "service_other"
        if m == "POST" and "uploads" in p:
            return "create_session"
        if m == "PUT" and "uploadid" in p:
            return "block_put"
        if m == "POST" and "uploadid" in p:
            return "commit"
        if m == "GET" and "uploadid" in p:
            return "session_status"
        return "tunnel_other"

    def check_generic_faults(self, op):
        def matches(rule):
            ep = rule.get("endpoint")
            return ((not rule.get("method") or rule.get("method").upper() == self.command)
                    and (not rule.get("path_contains") or rule.get("path_contains") in self.path)
                    and (not ep or ep == self.entry["endpoint"]))
        rule = self.emu.faults.fire("fail_request", matches)
        if rule is None:
            named = {"create_session": "fail_create_session",
                     "session_status": "fail_session_status",
                     "discovery": "fail_discovery"}.get(op)
            rule = self.emu.faults.fire(named) if named else None
            if rule is None:
                return
            self.entry["fault"] = named
        else:
            self.entry["fault"] = "fail_request"
        raise fault_error(rule)

    # -- authentication --
    def authenticate(self):
        auth = self.headers.get("Authorization")
        if not auth:
            raise ApiError(401, "Unauthorized", "ODPS-0410041:Invalid Authorization - "
                           "the Authorization header is missing")
        m = re.match(r"^ODPS ([^:]+):(\S+)$", auth)
        if not m:
            raise ApiError(401, "Unauthorized", "ODPS-0410041:Invalid Authorization - "
                           "malformed Authorization header (want 'ODPS id:signature')")
        credential, signature = m.group(1), m.group(2)
        parts = credential.split("/")
        access_id = parts[0]
        if not hmac.compare_digest(access_id.encode(), self.emu.access_id.encode()):
            raise ApiError(403, "InvalidAccessKeyId",
                           "ODPS-0410051:Invalid credentials - accessKeyId not found: %s" % access_id)
        path = self.req_path[len("/api"):] if self.is_service else self.req_path
        canonical = canonical_string(self.command, path or "/", self.params, dict(self.headers.items()))
        if len(parts) == 5 and parts[3] == "odps" and parts[4] == "aliyun_v4_request":
            expected = sign_v4(self.emu.access_key, canonical, parts[1], parts[2])
        elif len(parts) == 1:
            expected = sign_v2(self.emu.access_key, canonical)
        else:
            raise ApiError(401, "Unauthorized", "ODPS-0410041:Invalid Authorization - "
                           "unknown credential scope %r" % credential)
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise ApiError(403, "SignatureNotMatch",
                           "ODPS-0410042:Invalid signature value - User signature dose not match. "
                           "StringToSign (emulator): %r" % canonical)
        self.check_date()
        if self.emu.faults.fire("reject_signature",
                                lambda r: r.get("endpoint") in (None, self.entry["endpoint"])):
            self.entry["fault"] = "reject_signature"
            raise ApiError(403, "SignatureNotMatch", "ODPS-0410042:Invalid signature value - "
                           "User signature dose not match (fault injected)")

    def check_date(self):
        date = self.headers.get("Date")
        if not date:
            raise ApiError(401, "Unauthorized", "ODPS-0410041:Invalid Authorization - "
                           "the Date header is missing")
        try:
            sent = email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            raise ApiError(401, "Unauthorized", "bad Date header %r (RFC 1123 expected)" % date)
        now = time.time()
        if self.emu.max_skew > 0 and abs(now - sent) > self.emu.max_skew:
            code = "RequestTimeTooSkewed" if self.is_service else "Unauthorized"
            fmt = "%Y-%m-%dT%H:%M:%S.000Z"
            raise ApiError(401, code, "max_interval_date:%d,expire_date:%s,now_date:%s"
                           % (self.emu.max_skew * 1000,
                              time.strftime(fmt, time.gmtime(sent + self.emu.max_skew)),
                              time.strftime(fmt, time.gmtime(now))))

    # -- service endpoint --
    def route_service(self, body):
        segs = [s for s in self.req_path.split("/")[2:] if s]
        if len(segs) < 3 or segs[0] != "projects":
            raise ApiError(404, "NoSuchObject", "Unknown resource %s" % self.req_path)
        project = segs[1]
        self.emu.warehouse.check_project(project)
        rest = segs[2:]
        if rest == ["tunnel"] and self.command == "GET":
            return self.discovery()
        if rest == ["instances"] and self.command == "POST":
            return self.submit_instance(project, body)
        if len(rest) == 2 and rest[0] == "instances":
            inst = self.find_instance(project, rest[1])
            if self.command == "GET":
                return self.get_instance(inst)
            if self.command == "PUT":
                return self.reply(200)
        raise ApiError(404, "NoSuchObject", "emulator: no %s %s" % (self.command, self.req_path))

    def discovery(self):
        if "service" not in self.param:
            raise ApiError(400, "InvalidArgument", "tunnel discovery needs the 'service' parameter")
        self.reply(200, self.emu.tunnel_host.encode("ascii"), "text/plain")

    def find_instance(self, project, instance_id):
        with self.emu.lock:
            inst = self.emu.instances.get(instance_id)
        if inst is None or inst.project != project:
            raise ApiError(404, "NoSuchObject", "Instance not found - %s" % instance_id)
        return inst

    def submit_instance(self, project, body):
        name, query = parse_instance_xml(body)
        self.entry["sql"] = query[:500]
        rule = self.emu.faults.fire(
            "fail_sql", lambda r: not r.get("match") or r.get("match").lower() in query.lower())
        if rule is not None:
            self.entry["fault"] = "fail_sql"
            if rule.get("mode", "task") == "http":
                raise fault_error(rule)
        inst = Instance(project, name, query, self.emu.owner, self.emu.faults.take_running_polls())
        if rule is not None:
            inst.finish(False, SqlResult(rule.get("message", "ODPS-0010000:System internal error - "
                                                  "fault injected by mc_emulator")))
        else:
            self.run_sql(inst)
        with self.emu.lock:
            self.emu.instances[inst.id] = inst
        self.entry["instance"] = inst.id
        location = "%s/api/projects/%s/instances/%s" % (self.emu.base_url, project, inst.id)
        self.reply(201, b"", None, {"Location": location})

    def run_sql(self, inst):
        try:
            result = SqlEngine(self.emu.warehouse, inst.project, inst.query).run()
            inst.finish(True, result)
        except SqlError as err:
            inst.finish(False, SqlResult(str(err)))
        self.entry["task_status"] = inst.task_status

    def get_instance(self, inst):
        status, task_status = inst.poll_status()
        headers = {"x-odps-owner": inst.owner, "x-odps-start-time": rfc1123(inst.start),
                   "x-odps-end-time": rfc1123(inst.end) if status == "Terminated" else ""}
        if "result" in self.param:
            text = inst.result.text if status == "Terminated" else ""
            fmt = inst.result.format if status == "Terminated" else "text"
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Instance>\n  <Tasks>\n'
                   '    <Task Type="SQL">\n      <Name>%s</Name>\n'
                   '      <Result Format="%s">%s</Result>\n      <Status>%s</Status>\n'
                   '    </Task>\n  </Tasks>\n</Instance>\n'
                   % (xml_escape(inst.task_name), fmt, cdata(text), task_status))
        elif "taskstatus" in self.param:
            end = ("      <EndTime>%s</EndTime>\n" % rfc1123(inst.end)) if status == "Terminated" else ""
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Instance>\n  <Status>%s</Status>\n'
                   '  <Tasks>\n    <Task Type="SQL">\n      <Name>%s</Name>\n'
                   '      <StartTime>%s</StartTime>\n%s      <Status>%s</Status>\n'
                   '      <Histories/>\n    </Task>\n  </Tasks>\n</Instance>\n'
                   % (status, xml_escape(inst.task_name), rfc1123(inst.start), end, task_status))
        else:
            xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<Instance>\n  <Status>%s</Status>\n'
                   '</Instance>\n' % status)
        self.reply_xml(200, xml, headers)

    # -- tunnel endpoint --
    def route_tunnel(self, body):
        project, schema, table = self.tunnel_table_path()
        version = self.headers.get("x-odps-tunnel-version")
        if version not in TUNNEL_VERSIONS:
            raise ApiError(400, "InvalidArgument", "x-odps-tunnel-version must be one of %s, got %r"
                           % ("/".join(TUNNEL_VERSIONS), version))
        self.emu.warehouse.check_project(project)
        op = self.entry["op"]
        if op == "create_session":
            return self.create_session(project, schema, table)
        if op in ("block_put", "commit", "session_status"):
            session = self.find_session(project, schema, table)
            if op == "block_put":
                return self.put_block(session, body)
            if op == "commit":
                return self.commit(session)
            return self.reply_json(200, self.session_json(session))
        if "downloads" in self.param:
            raise ApiError(501, "NotSupported", "mc_emulator does not emulate download sessions")
        raise ApiError(400, "InvalidArgument", "unknown tunnel request %s %s" % (self.command, self.path))

    def tunnel_table_path(self):
        segs = [s for s in self.req_path.split("/") if s]
        if len(segs) == 4 and segs[0] == "projects" and segs[2] == "tables":
            return segs[1], "default", segs[3].lower()
        if len(segs) == 6 and segs[0] == "projects" and segs[2] == "schemas" and segs[4] == "tables":
            return segs[1], segs[3].lower(), segs[5].lower()
        raise ApiError(404, "InvalidResourceSpec", "not a table resource: %s" % self.req_path)

    def load_meta(self, project, schema, table):
        meta = self.emu.warehouse.load_table(project, schema, table)
        if meta is None:
            raise ApiError(404, "NoSuchTable", "The specified table name does not exist: %s.%s"
                           % (project, table))
        return meta

    def partition_param(self, meta):
        """The `partition` parameter as a spec in the table's key order (None if unpartitioned)."""
        raw = self.param.get("partition")
        if not meta.partition_keys:
            if raw:
                raise ApiError(400, "InvalidPartitionSpec",
                               "table %s is not partitioned, but partition=%s was given"
                               % (meta.full_name, raw))
            return None
        if not raw:
            raise ApiError(400, "MissingPartitionSpec",
                           "table %s is partitioned: the partition parameter is required"
                           % meta.full_name)
        return parse_partition_param(meta, raw)

    def create_session(self, project, schema, table):
        with self.emu.warehouse.lock:
            meta = self.load_meta(project, schema, table)
            spec = self.partition_param(meta)
            if spec is not None and not self.emu.warehouse.partition_exists(meta, spec):
                if self.param.get("create_partition", "").lower() != "true":
                    raise ApiError(404, "NoSuchPartition", "The specified partition does not "
                                   "exist: %s" % spec_text(spec))
                self.emu.warehouse.add_partition(meta, spec)
        overwrite = self.param.get("overwrite", "").lower() == "true"
        session = UploadSession(meta, spec, overwrite, self.emu.owner)
        with self.emu.lock:
            self.emu.sessions[session.id] = session
        self.entry["uploadid"] = session.id
        self.reply_json(201, self.session_json(session))

    def find_session(self, project, schema, table):
        upload_id = self.param.get("uploadid", "")
        self.entry["uploadid"] = upload_id
        with self.emu.lock:
            session = self.emu.sessions.get(upload_id)
        if session is None or (session.project, session.schema, session.table) != (project, schema, table):
            raise ApiError(404, "NoSuchUploadID", "The specified upload id does not exist: %s" % upload_id)
        meta = self.load_meta(project, schema, table)
        if self.partition_param(meta) != session.spec:
            raise ApiError(400, "InvalidPartitionSpec", "partition=%s does not match the session's "
                           "partition %s" % (self.param.get("partition"), spec_text(session.spec or [])))
        if session.status == "normal" and time.time() - session.created > self.emu.session_ttl:
            session.status = "expired"
        return session

    def session_json(self, s):
        meta = self.emu.warehouse.load_table(s.project, s.schema, s.table)
        columns = meta.columns if meta else []
        pkeys = meta.partition_keys if meta else []
        with self.emu.lock:
            blocks = sorted(s.blocks.items())
        return {
            "UploadID": s.id, "Status": s.status, "Owner": s.owner,
            "Initiated": rfc1123(s.created), "IsOverwrite": s.overwrite,
            "MaxFieldSize": MAX_FIELD_SIZE, "QuotaName": "",
            "Schema": {
                "IsVirtualView": False,
                "columns": [{"column_id": str(i + 1), "name": n, "type": t.render(), "comment": c,
                             "default_value": "", "nullable": True, "isNullable": True}
                            for i, (n, t, c) in enumerate(columns)],
                "partitionKeys": [{"name": n, "type": t.render(), "comment": c, "nullable": True,
                                   "isNullable": True} for n, t, c in pkeys],
            },
            "UploadedBlockList": [{"BlockID": bid, "CreateTime": int(b.created),
                                   "Date": rfc1123(b.created), "FileName": "%s_%d" % (s.id, bid),
                                   "RecordCount": len(b.rows), "Version": b.version}
                                  for bid, b in blocks],
        }

    def put_block(self, session, body):
        raw_id = self.param.get("blockid", "")
        if not raw_id.isdigit() or int(raw_id) > MAX_BLOCK_ID:
            raise ApiError(400, "InvalidBlockID", "blockid must be an integer in [0, %d], got %r"
                           % (MAX_BLOCK_ID, raw_id))
        block_id = int(raw_id)
        self.entry["blockid"] = block_id
        if session.status != "normal":
            raise ApiError(409, "StatusConflict", "upload session %s is %s" % (session.id, session.status))
        rule = self.emu.faults.fire("fail_block_put")
        if rule is not None and not rule.get("after_apply"):
            self.entry["fault"] = "fail_block_put"
            raise fault_error(rule)
        meta = self.load_meta(session.project, session.schema, session.table)
        data = self.decompress(body)
        try:
            rows = decode_block(meta.column_types, data)
        except BlockError as err:
            raise ApiError(400, "MalformedDataStream", str(err))
        names = [n for n, _, _ in meta.columns]
        stored = [{n: to_json_value(t, v) for n, t, v in zip(names, meta.column_types, row)}
                  for row in rows]
        with self.emu.lock:
            session.blocks[block_id] = Block(stored)
        self.entry["records"] = len(stored)
        if rule is not None:
            self.entry["fault"] = "fail_block_put"
            raise fault_error(rule)
        self.reply(200)

    def decompress(self, body):
        encoding = self.headers.get("Content-Encoding", "").strip().lower()
        self.entry["content_encoding"] = encoding or None
        if not encoding or encoding == "identity":
            return body
        if encoding == "deflate":
            try:
                return zlib.decompress(body)  # zlib stream (RFC 1950), not raw deflate
            except zlib.error as err:
                raise ApiError(400, "MalformedDataStream",
                               "Content-Encoding deflate: body is not a zlib stream: %s" % err)
        raise ApiError(400, "InvalidArgument", "mc_emulator does not support Content-Encoding %r"
                       % encoding)

    def commit(self, session):
        drop = self.emu.faults.fire("drop_commit_reply")
        rule = self.emu.faults.fire("fail_commit")
        if rule is not None and not rule.get("after_apply"):
            self.entry["fault"] = "fail_commit"
            raise fault_error(rule)
        with self.emu.warehouse.lock:
            if session.status != "normal":
                raise ApiError(409, "StatusConflict", "upload session %s is %s"
                               % (session.id, session.status))
            meta = self.load_meta(session.project, session.schema, session.table)
            if not self.emu.warehouse.partition_exists(meta, session.spec):
                raise ApiError(404, "NoSuchPartition", "The specified partition does not exist: %s"
                               % spec_text(session.spec or []))
            with self.emu.lock:
                blocks = sorted(session.blocks.items())
            rows = [] if session.overwrite else self.emu.warehouse.read_rows(meta, session.spec)
            for _, block in blocks:
                rows.extend(block.rows)
            self.emu.warehouse.write_rows(meta, session.spec, rows)
            session.status = "closed"
        self.entry["records"] = sum(len(b.rows) for _, b in blocks)
        if drop is not None:
            self.entry["fault"] = "drop_commit_reply"
            raise DropConnection()
        if rule is not None:
            self.entry["fault"] = "fail_commit"
            raise fault_error(rule)
        self.reply_json(200, self.session_json(session))


def parse_partition_param(meta, raw):
    keys = [k for k, _, _ in meta.partition_keys]
    given = {}
    for part in raw.split(","):
        key, eq, value = part.partition("=")
        key = key.lower()
        problem = None
        if not eq or key not in keys:
            problem = "unknown partition key %r" % part
        elif key in given:
            problem = "partition key %s given twice" % key
        else:
            problem = partition_value_problem(value)
        if problem:
            raise ApiError(400, "InvalidPartitionSpec", "partition=%s: %s" % (raw, problem))
        given[key] = value
    if len(given) != len(keys):
        raise ApiError(400, "InvalidPartitionSpec", "partition=%s must give every key of %s (%s)"
                       % (raw, meta.full_name, ",".join(keys)))
    return [(k, given[k]) for k in keys]


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def parse_instance_xml(body):
    """(task name, query) of the one SQL task in an Instance submission."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise ApiError(400, "InvalidArgument", "instance body is not XML: %s" % err)
    tasks = root.find("./Job/Tasks") if root.tag == "Instance" else None
    if tasks is None or len(tasks) != 1:
        raise ApiError(400, "InvalidArgument", "expected <Instance><Job><Tasks> with one task")
    task = tasks[0]
    if task.tag != "SQL":
        raise ApiError(400, "InvalidArgument", "mc_emulator runs only SQL tasks, not %s" % task.tag)
    name = (task.findtext("Name") or "").strip()
    query = task.findtext("Query")
    if not name or query is None:
        raise ApiError(400, "InvalidArgument", "the SQL task needs <Name> and <Query>")
    return name, query


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def make_server(args):
    emu = Emulator(args)
    handler = type("BoundHandler", (Handler,), {"emu": emu})
    server = EmulatorServer(("127.0.0.1", args.port), handler)
    port = server.server_address[1]
    emu.base_url = "http://127.0.0.1:%d" % port
    emu.tunnel_host = "127.0.0.1:%d" % port
    return server, emu


def parse_args(argv):
    ap = argparse.ArgumentParser(description="MaxCompute (ODPS) emulator for kmsync tests")
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--data", required=True, help="directory for committed tables (JSON)")
    ap.add_argument("--access-id", required=True)
    ap.add_argument("--access-key", required=True, help="the AccessKey secret")
    ap.add_argument("--project", action="append", default=None,
                    help="a project that exists (repeatable); without it any project exists")
    ap.add_argument("--max-skew-seconds", type=int, default=900,
                    help="reject a Date header further off than this (0 = no check)")
    ap.add_argument("--session-ttl-seconds", type=int, default=86400,
                    help="upload sessions expire after this long")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    server, emu = make_server(args)

    def stop(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write(emu.base_url + "\n")
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.2)
    except (SystemExit, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
