// S3 requests built and signed by skiff's S3Client compared with what botocore (Debian's
// python3-botocore, the library under boto3 and the AWS CLI) builds and signs for the same
// operation at the same instant: the URL (path or virtual-hosted style, key and query encoding)
// and the whole Authorization header must be identical.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/clock.hpp"
#include "core/crypto.hpp"
#include "http/s3_client.hpp"

namespace skiff::http {
namespace {

// Prints "URL\tAuthorization" per case: botocore's client builds the request, a before-send hook
// captures it (nothing leaves the process), and the signer's clock is pinned.
constexpr char kScript[] = R"PY(
import datetime, json, sys
from unittest import mock
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.config import Config

class Raw:
    def stream(self, **kw):
        return iter([b""])

session = botocore.session.get_session()
for c in json.load(open(sys.argv[1])):
    captured = {}
    def before_send(request, **kw):
        captured["url"] = request.url
        captured["auth"] = request.headers.get("Authorization", "")
        if isinstance(captured["auth"], bytes):
            captured["auth"] = captured["auth"].decode()
        return AWSResponse(request.url, 200, {}, Raw())
    s3 = {"addressing_style": c["addressing"]}
    if c["region"] == "us-east-1":
        s3["us_east_1_regional_endpoint"] = "regional"
    kwargs = dict(region_name=c["region"], aws_access_key_id=c["key_id"],
                  aws_secret_access_key=c["secret"], aws_session_token=c["token"] or None,
                  config=Config(s3=s3, retries={"max_attempts": 0}, signature_version="s3v4"))
    if c["endpoint"]:
        kwargs["endpoint_url"] = c["endpoint"]
    client = session.create_client("s3", **kwargs)
    client.meta.events.register("before-send.s3", before_send)
    with mock.patch("botocore.auth.datetime") as dt:
        dt.datetime.utcnow.return_value = datetime.datetime(2015, 8, 30, 12, 36, 0)
        try:
            if c["op"] == "GET":
                client.get_object(Bucket=c["bucket"], Key=c["key"])
            elif c["op"] == "HEAD":
                client.head_object(Bucket=c["bucket"], Key=c["key"])
            elif c["op"] == "LIST":
                args = dict(Bucket=c["bucket"], Prefix=c["prefix"], MaxKeys=c["max_keys"])
                if c["token_param"]:
                    args["ContinuationToken"] = c["token_param"]
                client.list_objects_v2(**args)
        except Exception:
            pass  # the empty fake response may not parse; the request was captured before
    print(captured.get("url", "") + "\t" + captured.get("auth", ""))
)PY";

struct Case {
  std::string op;  // GET, HEAD, LIST
  std::string endpoint;
  std::string region;
  S3Addressing addressing;
  std::string token;
  std::string bucket;
  std::string key;          // GET, HEAD
  std::string prefix = "";  // LIST
  int max_keys = 1000;
  std::string continuation = "";
};

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

const char* AddressingName(S3Addressing a) {
  switch (a) {
    case S3Addressing::kPath:
      return "path";
    case S3Addressing::kVirtualHost:
      return "virtual";
    case S3Addressing::kAuto:
      break;
  }
  return "auto";
}

// "scheme://host/path?b=2&a=1" -> "scheme://host/path?a=1&b=2": query order does not matter.
std::string SortedQuery(const std::string& url) {
  size_t q = url.find('?');
  if (q == std::string::npos) return url;
  std::vector<std::string> parts;
  std::stringstream ss(url.substr(q + 1));
  for (std::string p; std::getline(ss, p, '&');) parts.push_back(p);
  std::sort(parts.begin(), parts.end());
  std::string out = url.substr(0, q + 1);
  for (size_t i = 0; i < parts.size(); ++i) out += (i ? "&" : "") + parts[i];
  return out;
}

TEST(Sigv4BotocoreTest, S3ClientRequestsMatchBotocoreByteForByte) {
  if (std::system("timeout 60 /usr/bin/python3 -c 'import botocore' >/dev/null 2>&1") != 0) {
    FAIL() << "python3-botocore is missing: run scripts/deps.sh test (it installs Debian's "
              "python3-botocore, which this test compares the S3 signer against)";
  }
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  std::vector<Case> cases = {
      {"GET", "http://127.0.0.1:9000", "us-east-1", S3Addressing::kPath, "session-token", "models",
       "iris v2/\xE1\x88\xB4+x(1)/model.joblib"},
      {"GET", "http://127.0.0.1:9000", "eu-west-1", S3Addressing::kPath, "", "models",
       "a&b=c;d@e$f,g:h!i'j*k~l%m^n`o[p]q{r}s|t\\u<v>w\"x#y?z/ /model.bst"},
      {"HEAD", "http://localhost:4568", "us-east-1", S3Addressing::kPath, "", "models",
       "iris/model.joblib"},
      {"LIST", "http://127.0.0.1:9000", "us-east-1", S3Addressing::kPath, "tok", "models", "",
       "iris/", 2, "a b/c="},
      {"LIST", "http://127.0.0.1:9000", "us-east-1", S3Addressing::kPath, "", "models", "", "",
       1000, ""},
      // AWS's own endpoints: virtual-hosted style when the bucket name allows it.
      {"GET", "", "us-west-2", S3Addressing::kAuto, "", "models", "iris/model.joblib"},
      {"LIST", "", "us-east-1", S3Addressing::kAuto, "", "models", "", "iris/", 1000, ""},
      {"LIST", "", "us-east-1", S3Addressing::kAuto, "", "my.models", "", "iris/", 1000, ""},
      {"GET", "", "eu-central-1", S3Addressing::kPath, "tok", "models", "x/y.json"},
      {"GET", "https://minio.example.com:9443", "us-east-1", S3Addressing::kVirtualHost, "",
       "models", "sklearn/iris/model.joblib"},
  };

  FakeClock clock(std::chrono::system_clock::time_point(std::chrono::seconds(1440938160)));
  std::string json = "[";
  std::vector<std::pair<std::string, std::string>> ours;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    S3Options o;
    o.endpoint = c.endpoint;
    o.region = c.region;
    o.access_key_id = "AKIDEXAMPLE";
    o.secret_access_key = secret;
    o.session_token = c.token;
    o.addressing = c.addressing;
    ASSERT_TRUE(S3Client::Validate(o).ok());
    S3Client client(o, clock);
    http::ClientRequest req =
        c.op == "LIST" ? client.ListRequest(c.bucket, c.prefix, c.max_keys, c.continuation,
                                            std::chrono::seconds(1))
                       : client.Prepare(c.op, c.bucket, c.key, {}, sigv4::kEmptyPayloadHash,
                                        std::chrono::seconds(1));
    auto auth = req.headers.Get("Authorization");
    ASSERT_TRUE(auth.has_value());
    ours.emplace_back(req.url, std::string(*auth));
    json += std::string(i ? "," : "") + "{\"op\":" + JsonString(c.op) +
            ",\"endpoint\":" + JsonString(c.endpoint) + ",\"region\":" + JsonString(c.region) +
            ",\"addressing\":" + JsonString(AddressingName(c.addressing)) +
            ",\"key_id\":\"AKIDEXAMPLE\",\"secret\":" + JsonString(secret) +
            ",\"token\":" + JsonString(c.token) + ",\"bucket\":" + JsonString(c.bucket) +
            ",\"key\":" + JsonString(c.key) + ",\"prefix\":" + JsonString(c.prefix) +
            ",\"max_keys\":" + std::to_string(c.max_keys) +
            ",\"token_param\":" + JsonString(c.continuation) + "}";
  }
  json += "]";

  auto dir =
      std::filesystem::temp_directory_path() / ("skiff-botocore-" + HexEncode(RandomBytes(6)));
  std::filesystem::create_directories(dir);
  std::ofstream((dir / "cases.json").string()) << json;
  std::ofstream((dir / "sign.py").string()) << kScript;
  std::string cmd = "timeout 60 /usr/bin/python3 " + (dir / "sign.py").string() + " " +
                    (dir / "cases.json").string() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int rc = ::pclose(p);
  std::filesystem::remove_all(dir);
  ASSERT_EQ(rc, 0) << out;

  std::vector<std::string> lines;
  std::stringstream ss(out);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), cases.size()) << out;
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE("case " + std::to_string(i) + " " + cases[i].op + " " + cases[i].bucket + "/" +
                 cases[i].key + cases[i].prefix);
    size_t tab = lines[i].find('\t');
    ASSERT_NE(tab, std::string::npos) << lines[i];
    EXPECT_EQ(SortedQuery(ours[i].first), SortedQuery(lines[i].substr(0, tab)));
    EXPECT_EQ(ours[i].second, lines[i].substr(tab + 1));
  }
}

}  // namespace
}  // namespace skiff::http
