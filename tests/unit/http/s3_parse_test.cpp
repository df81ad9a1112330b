// The sans-I/O parts of model storage: the XML reader, S3 listings and error documents, s3://
// URIs, settings from the environment, and how S3 answers become Statuses.

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "core/clock.hpp"
#include "http/s3_client.hpp"
#include "http/xml.hpp"

namespace skiff::http {
namespace {

using namespace std::chrono_literals;

TEST(StorageXmlTest, ParsesElementsTextEntitiesAndCdata) {
  auto doc = xml::Parse(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- comment -->\n"
      "<s3:Root xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\" a='1>'>"
      "<Key> a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42;&#x1234; </Key>"
      "<Empty/><Empty2></Empty2><Data><![CDATA[<not> &parsed;]]></Data>"
      "<?pi ignored?><Nested><Deep>x</Deep></Nested></s3:Root>");
  ASSERT_TRUE(doc) << doc.error();
  EXPECT_EQ(doc->name, "Root");
  EXPECT_EQ(doc->ChildText("Key"), " a & b <c> \"d\" 'e' AB\xE1\x88\xB4 ");
  EXPECT_EQ(doc->ChildText("Empty"), "");
  ASSERT_NE(doc->Child("Empty2"), nullptr);
  EXPECT_EQ(doc->ChildText("Data"), "<not> &parsed;");
  EXPECT_EQ(doc->Child("Nested")->ChildText("Deep"), "x");
  EXPECT_EQ(doc->Child("Missing"), nullptr);
  EXPECT_EQ(doc->ChildText("Missing"), "");
}

TEST(StorageXmlTest, RejectsMalformedAndDangerousDocuments) {
  for (const char* bad : {
           "",
           "   ",
           "text",
           "<a>",
           "<a></b>",
           "<a><b></a></b>",
           "<a>&unknown;</a>",
           "<a>&#0;</a>",
           "<a>&#xD800;</a>",
           "<a>&#x110000;</a>",
           "<a>&amp</a>",
           "<a></a><b/>",
           "<a b=\"1></a>",
           "<a b=1></a>",
           "<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
           "<a><!DOCTYPE x></a>",
           "<a><![CDATA[x</a>",
           "<a><!-- x</a>",
           "</a>",
           "<a/>junk",
       }) {
    auto r = xml::Parse(bad);
    EXPECT_FALSE(r) << "accepted: " << bad;
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(StorageXmlTest, DepthIsBounded) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  for (int i = 0; i < 100; ++i) deep += "</a>";
  auto r = xml::Parse(deep);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("nested too deeply"), std::string::npos);
  EXPECT_TRUE(xml::Parse(deep, 200));
}

TEST(StorageXmlTest, MutatedDocumentsNeverCrash) {
  const std::string seed =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"x\"><Name>m</Name><Contents><Key>a&amp;b"
      "</Key><Size>12</Size><ETag>&quot;e&quot;</ETag></Contents><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>t</NextContinuationToken><![CDATA[c]]></ListBucketResult>";
  std::mt19937 rng(12345);
  const std::string alphabet = "<>/&;#x!?[]\"'= aZ09-\n";
  for (int i = 0; i < 20000; ++i) {
    std::string doc = seed;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      size_t pos = rng() % (doc.size() + 1);
      switch (rng() % 3) {
        case 0:
          doc.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < doc.size()) doc.erase(pos, 1 + rng() % 8);
          break;
        default:
          doc = doc.substr(0, pos);
      }
    }
    (void)xml::Parse(doc);
    (void)ParseListObjectsV2(doc);
    (void)ParseS3Error(doc);
  }
}

TEST(StorageS3ParseTest, ListObjectsV2Page) {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>models</Name><Prefix>iris/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
      "<IsTruncated>true</IsTruncated>"
      "<Contents><Key>iris/model.joblib</Key><LastModified>2024-01-01T00:00:00.000Z"
      "</LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
      "<Size>1234567890123</Size><StorageClass>STANDARD</StorageClass></Contents>"
      "<Contents><Key> spaced key </Key><Size> 0 </Size><ETag>\"abc-2\"</ETag></Contents>"
      "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM="
      "</NextContinuationToken></ListBucketResult>");
  ASSERT_TRUE(page) << page.error();
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "iris/model.joblib");
  EXPECT_EQ(page->objects[0].size, 1234567890123u);
  EXPECT_EQ(page->objects[0].etag, "9b2cf535f27731c974343645a3985328");
  EXPECT_EQ(page->objects[1].key, " spaced key ");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->objects[1].etag, "abc-2");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(StorageS3ParseTest, UrlEncodedKeysAreDecodedOnlyWhenTheListingSaysSo) {
  const std::string contents =
      "<Contents><Key>iris/a+b%2Bc%20d%E1%88%B4</Key><Size>1</Size></Contents>";
  auto encoded = ParseListObjectsV2("<ListBucketResult><EncodingType>url</EncodingType>" +
                                    contents + "</ListBucketResult>");
  ASSERT_TRUE(encoded) << encoded.error();
  EXPECT_EQ(encoded->objects[0].key, "iris/a b+c d\xE1\x88\xB4");
  auto raw = ParseListObjectsV2("<ListBucketResult>" + contents + "</ListBucketResult>");
  ASSERT_TRUE(raw) << raw.error();
  EXPECT_EQ(raw->objects[0].key, "iris/a+b%2Bc%20d%E1%88%B4");
  EXPECT_FALSE(raw->truncated);
}

TEST(StorageS3ParseTest, BadListingsAreInvalidArgument) {
  for (const char* doc : {
           "<Error><Code>x</Code></Error>",
           "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key><Size>1x</Size></Contents></ListBucketResult>",
           "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
           "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
           "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%zz</Key><Size>1"
           "</Size></Contents></ListBucketResult>",
       }) {
    auto r = ParseListObjectsV2(doc);
    EXPECT_FALSE(r) << doc;
    if (!r) {
      EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
    }
  }
}

TEST(StorageS3ParseTest, ErrorDocuments) {
  auto e = ParseS3Error(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AuthorizationHeaderMalformed"
      "</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; "
      "expecting 'eu-west-1'</Message><Region>eu-west-1</Region><RequestId>X</RequestId>"
      "</Error>");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code, "AuthorizationHeaderMalformed");
  EXPECT_EQ(e->region, "eu-west-1");
  EXPECT_NE(e->message.find("expecting 'eu-west-1'"), std::string::npos);
  EXPECT_FALSE(ParseS3Error("<html>502 Bad Gateway</html>"));
  EXPECT_FALSE(ParseS3Error(""));
}

TEST(StorageS3ParseTest, S3Uris) {
  auto a = ParseS3Uri("s3://models/sklearn/iris/");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->bucket, "models");
  EXPECT_EQ(a->key, "sklearn/iris/");
  auto b = ParseS3Uri("s3://models");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->key, "");
  auto c = ParseS3Uri("s3://My_Legacy.Bucket/a b%20c");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->key, "a b%20c");  // literal, as boto3 and KServe take it
  for (const char* bad : {"s3://", "s3:///k", "http://x/y", "s3://b@d/k", "s3://b:1/k"}) {
    EXPECT_FALSE(ParseS3Uri(bad)) << bad;
  }
}

TEST(StorageS3EnvTest, UsualAwsVariablesWithConfigurationOnTop) {
  std::map<std::string, std::string> env = {
      {"AWS_ACCESS_KEY_ID", "AKIDENV"},          {"AWS_SECRET_ACCESS_KEY", "secretenv"},
      {"AWS_SESSION_TOKEN", "tokenenv"},         {"AWS_DEFAULT_REGION", "eu-west-1"},
      {"AWS_ENDPOINT_URL", "http://minio:9000"}, {"AWS_CA_BUNDLE", "/etc/ca.pem"},
  };
  auto lookup = [&env](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  S3Options o = S3OptionsFromEnvironment({}, lookup);
  EXPECT_EQ(o.access_key_id, "AKIDENV");
  EXPECT_EQ(o.secret_access_key, "secretenv");
  EXPECT_EQ(o.session_token, "tokenenv");
  EXPECT_EQ(o.region, "eu-west-1");
  EXPECT_EQ(o.endpoint, "http://minio:9000");
  EXPECT_EQ(o.ca_file, "/etc/ca.pem");
  EXPECT_EQ(o.addressing, S3Addressing::kAuto);
  EXPECT_FALSE(o.insecure_skip_verify);

  env["AWS_REGION"] = "us-west-2";  // wins over AWS_DEFAULT_REGION
  env["AWS_ENDPOINT_URL_S3"] = "https://s3.internal";
  o = S3OptionsFromEnvironment({}, lookup);
  EXPECT_EQ(o.region, "us-west-2");
  EXPECT_EQ(o.endpoint, "https://s3.internal");

  // Skiff's configuration wins field by field; its key id never pairs with the env's secret.
  S3Options configured;
  configured.region = "ap-south-1";
  configured.access_key_id = "AKIDCONF";
  configured.secret_access_key = "secretconf";
  configured.addressing = S3Addressing::kPath;
  o = S3OptionsFromEnvironment(configured, lookup);
  EXPECT_EQ(o.region, "ap-south-1");
  EXPECT_EQ(o.access_key_id, "AKIDCONF");
  EXPECT_EQ(o.secret_access_key, "secretconf");
  EXPECT_EQ(o.session_token, "");
  EXPECT_EQ(o.endpoint, "https://s3.internal");
  EXPECT_EQ(o.addressing, S3Addressing::kPath);
}

TEST(StorageS3EnvTest, KServeVariables) {
  std::map<std::string, std::string> env = {{"S3_ENDPOINT", "minio-service.kubeflow:9000"},
                                            {"S3_USE_HTTPS", "0"},
                                            {"S3_VERIFY_SSL", "0"},
                                            {"S3_USER_VIRTUAL_BUCKET", "true"}};
  auto lookup = [&env](const char* name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  S3Options o = S3OptionsFromEnvironment({}, lookup);
  EXPECT_EQ(o.endpoint, "http://minio-service.kubeflow:9000");
  EXPECT_TRUE(o.insecure_skip_verify);
  EXPECT_EQ(o.addressing, S3Addressing::kVirtualHost);
  env.erase("S3_USE_HTTPS");
  EXPECT_EQ(S3OptionsFromEnvironment({}, lookup).endpoint, "https://minio-service.kubeflow:9000");
}

TEST(StorageS3ClientTest, EndpointsAndAddressing) {
  FakeClock clock;
  auto url = [&clock](S3Options o, std::string_view bucket, std::string_view key) {
    EXPECT_TRUE(S3Client::Validate(o).ok());
    return S3Client(o, clock).Prepare("GET", bucket, key, {}, sigv4::kEmptyPayloadHash, 1s).url;
  };
  S3Options o;
  EXPECT_EQ(url(o, "models", "iris/model.joblib"),
            "https://models.s3.us-east-1.amazonaws.com/iris/model.joblib");
  o.region = "cn-north-1";
  EXPECT_EQ(url(o, "models", "k"), "https://models.s3.cn-north-1.amazonaws.com.cn/k");
  o.region = "eu-west-1";
  EXPECT_EQ(url(o, "my.models", "k"), "https://s3.eu-west-1.amazonaws.com/my.models/k");
  EXPECT_EQ(url(o, "Legacy_Bucket", "k"), "https://s3.eu-west-1.amazonaws.com/Legacy_Bucket/k");
  o.endpoint = "http://127.0.0.1:9000/";
  EXPECT_EQ(url(o, "models", "a b/c"), "http://127.0.0.1:9000/models/a%20b/c");
  o.endpoint = "https://gateway.example.com:443/s3";
  EXPECT_EQ(url(o, "models", "k"), "https://gateway.example.com/s3/models/k");
  o.endpoint = "http://[::1]:9000";
  EXPECT_EQ(url(o, "models", "k"), "http://[::1]:9000/models/k");
  o.endpoint = "https://minio.example.com";
  o.addressing = S3Addressing::kVirtualHost;
  EXPECT_EQ(url(o, "models", "k"), "https://models.minio.example.com/k");

  // Anonymous: no signature headers at all.
  S3Options anon;
  anon.endpoint = "http://127.0.0.1:9000";
  auto req = S3Client(anon, clock).Prepare("GET", "b", "k", {}, sigv4::kEmptyPayloadHash, 1s);
  EXPECT_FALSE(req.headers.Has("Authorization"));
  EXPECT_EQ(req.headers.Get("host"), "127.0.0.1:9000");

  S3Options bad;
  bad.endpoint = "minio:9000";
  EXPECT_EQ(S3Client::Validate(bad).code(), Code::kInvalidArgument);
  bad.endpoint = "https://minio:9000?x=1";
  EXPECT_EQ(S3Client::Validate(bad).code(), Code::kInvalidArgument);
}

TEST(StorageS3ClientTest, StatusesSayWhatToDo) {
  FakeClock clock;
  S3Options o;
  o.endpoint = "http://127.0.0.1:9000";
  o.access_key_id = "AKID";
  o.secret_access_key = "s";
  S3Client c(o, clock);
  auto doc = [](const char* code, const char* msg) {
    return std::string("<Error><Code>") + code + "</Code><Message>" + msg + "</Message></Error>";
  };
  Status s = c.StatusFor(404, doc("NoSuchBucket", "The specified bucket does not exist"), "w");
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_NE(s.message().find("bucket does not exist"), std::string::npos) << s;
  EXPECT_EQ(c.StatusFor(404, doc("NoSuchKey", "gone"), "w").code(), Code::kNotFound);
  EXPECT_EQ(c.StatusFor(404, "", "w").code(), Code::kNotFound);  // HEAD: no body
  s = c.StatusFor(403, doc("SignatureDoesNotMatch", "nope"), "w");
  EXPECT_EQ(s.code(), Code::kPermissionDenied);
  EXPECT_NE(s.message().find("AKID"), std::string::npos) << s;
  EXPECT_EQ(s.message().find("\"s\""), std::string::npos);  // never the secret
  s = c.StatusFor(400, doc("AuthorizationHeaderMalformed", "wrong region") + "", "w",
                  "ap-northeast-1");
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("ap-northeast-1"), std::string::npos) << s;
  s = c.StatusFor(403, doc("RequestTimeTooSkewed", "skew"), "w");
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_NE(s.message().find("clock"), std::string::npos) << s;
  EXPECT_EQ(c.StatusFor(500, doc("InternalError", "x"), "w").code(), Code::kUnavailable);
  EXPECT_EQ(c.StatusFor(502, "<html>bad gateway</html>", "w").code(), Code::kUnavailable);
}

}  // namespace
}  // namespace skiff::http
