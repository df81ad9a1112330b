// Kubernetes protobuf request bodies: the wire reader, the JSON mapping of the descriptors, the
// envelope checks, and create/update through ResourceApi. Bodies are hand-encoded with the small
// encoder below, except the kubectl fixtures, which are real request bodies.
#include "api/protobuf.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <string_view>

#include "api/kind.hpp"
#include "api_fixture.hpp"

namespace skiff::api {
namespace {

using testing::ApiTest;
using ::testing::HasSubstr;
using testing::J;
using testing::Reply;

// ---------------------------------------------------------------------------------------------
// A tiny protobuf encoder.

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
  return out;
}
std::string Key(uint32_t field, uint32_t wire) {
  return Varint((static_cast<uint64_t>(field) << 3) | wire);
}
// A length-delimited field: string, bytes or embedded message.
std::string Len(uint32_t field, std::string_view bytes) {
  return Key(field, 2) + Varint(bytes.size()) + std::string(bytes);
}
std::string Int(uint32_t field, uint64_t v) { return Key(field, 0) + Varint(v); }
std::string Fixed64(uint32_t field) { return Key(field, 1) + std::string(8, '\x7f'); }
std::string Fixed32(uint32_t field) { return Key(field, 5) + std::string(4, '\x7f'); }
// A map<string, V> entry; `value` is the encoded value (a string, or a Quantity message).
std::string Entry(uint32_t field, std::string_view key, std::string_view value) {
  return Len(field, Len(1, key) + Len(2, value));
}
std::string Quantity(std::string_view q) { return Len(1, q); }
std::string Time(int64_t seconds, int32_t nanos = 0) {
  return Int(1, static_cast<uint64_t>(seconds)) +
         (nanos != 0 ? Int(2, static_cast<uint64_t>(static_cast<int64_t>(nanos))) : "");
}
// The whole body: magic, then runtime.Unknown {typeMeta {apiVersion, kind}, raw}.
std::string Envelope(std::string_view api_version, std::string_view kind, std::string_view raw) {
  return std::string("k8s\0", 4) + Len(1, Len(1, api_version) + Len(2, kind)) + Len(2, raw);
}

// Every field kind with every wire type, numbered past anything the descriptors use.
std::string UnknownFields() {
  return Int(99, 12345) + Fixed64(100) + Len(101, "ignored") + Fixed32(102) +
         Int(536870911, 1);  // the largest field number
}

// ---------------------------------------------------------------------------------------------
// Real request bodies from kubectl v1.32.4 (`kubectl -v=9` prints them as a hex dump).

// kubectl create namespace team-a
const std::string kKubectlNamespace(
    "\x6b\x38\x73\x00\x0a\x0f\x0a\x02\x76\x31\x12\x09\x4e\x61\x6d\x65"
    "\x73\x70\x61\x63\x65\x12\x1e\x0a\x16\x0a\x06\x74\x65\x61\x6d\x2d"
    "\x61\x12\x00\x1a\x00\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12"
    "\x00\x1a\x02\x0a\x00\x1a\x00\x22\x00",
    57);

// kubectl create quota q --hard=pods=2,services=3,requests.cpu=500m --scopes=NotTerminating
//   -n team-a
const std::string kKubectlQuota(
    "\x6b\x38\x73\x00\x0a\x13\x0a\x02\x76\x31\x12\x0d\x52\x65\x73\x6f"
    "\x75\x72\x63\x65\x51\x75\x6f\x74\x61\x12\x63\x0a\x17\x0a\x01\x71"
    "\x12\x00\x1a\x06\x74\x65\x61\x6d\x2d\x61\x22\x00\x2a\x00\x32\x00"
    "\x38\x00\x42\x00\x12\x46\x0a\x0b\x0a\x04\x70\x6f\x64\x73\x12\x03"
    "\x0a\x01\x32\x0a\x16\x0a\x0c\x72\x65\x71\x75\x65\x73\x74\x73\x2e"
    "\x63\x70\x75\x12\x06\x0a\x04\x35\x30\x30\x6d\x0a\x0f\x0a\x08\x73"
    "\x65\x72\x76\x69\x63\x65\x73\x12\x03\x0a\x01\x33\x12\x0e\x4e\x6f"
    "\x74\x54\x65\x72\x6d\x69\x6e\x61\x74\x69\x6e\x67\x1a\x00\x1a\x00"
    "\x22\x00",
    130);

// kubectl create rolebinding rb --clusterrole=edit --user=alice --group=devs
//   --serviceaccount=team-a:bot -n team-a
const std::string kKubectlRoleBinding(
    "\x6b\x38\x73\x00\x0a\x2b\x0a\x1c\x72\x62\x61\x63\x2e\x61\x75\x74"
    "\x68\x6f\x72\x69\x7a\x61\x74\x69\x6f\x6e\x2e\x6b\x38\x73\x2e\x69"
    "\x6f\x2f\x76\x31\x12\x0b\x52\x6f\x6c\x65\x42\x69\x6e\x64\x69\x6e"
    "\x67\x12\xc3\x01\x0a\x18\x0a\x02\x72\x62\x12\x00\x1a\x06\x74\x65"
    "\x61\x6d\x2d\x61\x22\x00\x2a\x00\x32\x00\x38\x00\x42\x00\x12\x2a"
    "\x0a\x04\x55\x73\x65\x72\x12\x19\x72\x62\x61\x63\x2e\x61\x75\x74"
    "\x68\x6f\x72\x69\x7a\x61\x74\x69\x6f\x6e\x2e\x6b\x38\x73\x2e\x69"
    "\x6f\x1a\x05\x61\x6c\x69\x63\x65\x22\x00\x12\x2a\x0a\x05\x47\x72"
    "\x6f\x75\x70\x12\x19\x72\x62\x61\x63\x2e\x61\x75\x74\x68\x6f\x72"
    "\x69\x7a\x61\x74\x69\x6f\x6e\x2e\x6b\x38\x73\x2e\x69\x6f\x1a\x04"
    "\x64\x65\x76\x73\x22\x00\x12\x1f\x0a\x0e\x53\x65\x72\x76\x69\x63"
    "\x65\x41\x63\x63\x6f\x75\x6e\x74\x12\x00\x1a\x03\x62\x6f\x74\x22"
    "\x06\x74\x65\x61\x6d\x2d\x61\x1a\x2e\x0a\x19\x72\x62\x61\x63\x2e"
    "\x61\x75\x74\x68\x6f\x72\x69\x7a\x61\x74\x69\x6f\x6e\x2e\x6b\x38"
    "\x73\x2e\x69\x6f\x12\x0b\x43\x6c\x75\x73\x74\x65\x72\x52\x6f\x6c"
    "\x65\x1a\x04\x65\x64\x69\x74\x1a\x00\x22\x00",
    251);

// ---------------------------------------------------------------------------------------------
// Decoding against the registered core kinds.

class ProtobufTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(RegisterCoreKinds(kinds_).ok()); }

  const ProtoMessage& Descriptor(std::string_view kind) {
    const KindInfo* k = kinds_.ByKind("", "v1", kind);
    SKIFF_CHECK(k != nullptr && k->protobuf != nullptr);
    return *k->protobuf;
  }

  // Decodes a core/v1 body of `kind`; the test fails (and null is returned) on an error.
  json::value Decode(std::string_view kind, std::string_view body) {
    auto r = DecodeKubernetesProtobuf(body, Descriptor(kind), "v1", kind);
    EXPECT_TRUE(r) << r.error();
    return r ? json::value(std::move(*r)) : json::value();
  }

  // The error of decoding `body`; fails the test when it decodes or is no InvalidArgument.
  std::string DecodeError(std::string_view kind, std::string_view body) {
    auto r = DecodeKubernetesProtobuf(body, Descriptor(kind), "v1", kind);
    if (r) {
      ADD_FAILURE() << "decoded: " << Serialize(*r);
      return "";
    }
    EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error();
    return r.error().message();
  }

  KindRegistry kinds_;
};

TEST_F(ProtobufTest, NamespaceWithMetadata) {
  std::string metadata = Len(1, "team-a") + Entry(11, "team", "a") +
                         Entry(11, "app.kubernetes.io/name", "skiff") +
                         Entry(12, "note", "hello, wörld") + Len(14, "example.com/cleanup") +
                         Len(14, "example.com/audit") + Len(8, Time(1700000000));
  std::string raw = Len(1, metadata) + Len(2, Len(1, "kubernetes")) + Len(3, Len(1, "Active"));
  json::value v = Decode("Namespace", Envelope("v1", "Namespace", raw));
  EXPECT_EQ(v, J(R"({
    "kind": "Namespace", "apiVersion": "v1",
    "metadata": {
      "name": "team-a",
      "creationTimestamp": "2023-11-14T22:13:20Z",
      "labels": {"team": "a", "app.kubernetes.io/name": "skiff"},
      "annotations": {"note": "hello, wörld"},
      "finalizers": ["example.com/cleanup", "example.com/audit"]
    },
    "spec": {"finalizers": ["kubernetes"]},
    "status": {"phase": "Active"}
  })"));
  // Keys come in the order Go writes them (TypeMeta, then the struct fields).
  EXPECT_EQ(Serialize(v),
            R"({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"team-a",)"
            R"("creationTimestamp":"2023-11-14T22:13:20Z","labels":{"team":"a",)"
            R"("app.kubernetes.io/name":"skiff"},"annotations":{"note":"hello, wörld"},)"
            R"("finalizers":["example.com/cleanup","example.com/audit"]},)"
            R"("spec":{"finalizers":["kubernetes"]},"status":{"phase":"Active"}})");
}

TEST_F(ProtobufTest, NamespaceConditions) {
  std::string condition = Len(1, "NamespaceDeletionContentFailure") + Len(2, "False") +
                          Len(4, Time(1700000000)) + Len(5, "ContentDeleted");
  std::string raw =
      Len(1, Len(1, "ns")) + Len(3, Len(1, "Terminating") + Len(2, condition) + Len(2, ""));
  EXPECT_EQ(Decode("Namespace", Envelope("v1", "Namespace", raw)), J(R"({
    "kind": "Namespace", "apiVersion": "v1",
    "metadata": {"name": "ns"}, "spec": {},
    "status": {"phase": "Terminating", "conditions": [
      {"type": "NamespaceDeletionContentFailure", "status": "False",
       "lastTransitionTime": "2023-11-14T22:13:20Z", "reason": "ContentDeleted"},
      {"type": "", "status": ""}]}
  })"));
}

TEST_F(ProtobufTest, ResourceQuotaWithHardQuantities) {
  std::string spec =
      Entry(1, "pods", Quantity("2")) + Entry(1, "requests.cpu", Quantity("500m")) +
      Entry(1, "requests.memory", Quantity("1Gi")) + Entry(1, "zero", "") +
      Len(2, "NotTerminating") +
      Len(3, Len(1, Len(1, "PriorityClass") + Len(2, "In") + Len(3, "high") + Len(3, "low")));
  std::string status = Entry(1, "pods", Quantity("2")) + Entry(2, "pods", Quantity("1"));
  std::string raw = Len(1, Len(1, "q") + Len(3, "team-a")) + Len(2, spec) + Len(3, status);
  EXPECT_EQ(Decode("ResourceQuota", Envelope("v1", "ResourceQuota", raw)), J(R"({
    "kind": "ResourceQuota", "apiVersion": "v1",
    "metadata": {"name": "q", "namespace": "team-a"},
    "spec": {
      "hard": {"pods": "2", "requests.cpu": "500m", "requests.memory": "1Gi", "zero": "0"},
      "scopes": ["NotTerminating"],
      "scopeSelector": {"matchExpressions": [
        {"scopeName": "PriorityClass", "operator": "In", "values": ["high", "low"]}]}
    },
    "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}
  })"));
}

TEST_F(ProtobufTest, ResourceQuotaScopeSelectorIsAPointer) {
  // An empty scopeSelector on the wire is a non-nil pointer: {} in JSON; absent is left out.
  std::string with = Len(1, Len(1, "q")) + Len(2, Len(3, ""));
  EXPECT_EQ(Decode("ResourceQuota", Envelope("v1", "ResourceQuota", with)), J(R"({
    "kind": "ResourceQuota", "apiVersion": "v1", "metadata": {"name": "q"},
    "spec": {"scopeSelector": {}}, "status": {}})"));
  std::string without = Len(1, Len(1, "q"));
  EXPECT_EQ(Decode("ResourceQuota", Envelope("v1", "ResourceQuota", without)), J(R"({
    "kind": "ResourceQuota", "apiVersion": "v1", "metadata": {"name": "q"},
    "spec": {}, "status": {}})"));
}

TEST_F(ProtobufTest, LimitRange) {
  std::string item = Len(1, "Container") + Entry(2, "cpu", Quantity("2")) +
                     Entry(3, "cpu", Quantity("100m")) + Entry(4, "memory", Quantity("512Mi")) +
                     Entry(5, "memory", Quantity("256Mi")) + Entry(6, "cpu", Quantity("4"));
  std::string raw = Len(1, Len(1, "limits")) + Len(2, Len(1, item) + Len(1, ""));
  EXPECT_EQ(Decode("LimitRange", Envelope("v1", "LimitRange", raw)), J(R"({
    "kind": "LimitRange", "apiVersion": "v1", "metadata": {"name": "limits"},
    "spec": {"limits": [
      {"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"},
       "default": {"memory": "512Mi"}, "defaultRequest": {"memory": "256Mi"},
       "maxLimitRequestRatio": {"cpu": "4"}},
      {"type": ""}]}
  })"));
  // `json:"limits"` has no omitempty: Go writes the nil slice as null.
  EXPECT_EQ(Decode("LimitRange", Envelope("v1", "LimitRange", Len(1, Len(1, "l")))), J(R"({
    "kind": "LimitRange", "apiVersion": "v1", "metadata": {"name": "l"},
    "spec": {"limits": null}})"));
}

TEST_F(ProtobufTest, RealKubectlNamespace) {
  // Every ObjectMeta string is on the wire, empty; creationTimestamp is an empty Time.
  EXPECT_EQ(Serialize(Decode("Namespace", kKubectlNamespace)),
            R"({"kind":"Namespace","apiVersion":"v1","metadata":{"name":"team-a"},)"
            R"("spec":{},"status":{}})");
}

TEST_F(ProtobufTest, RealKubectlResourceQuota) {
  EXPECT_EQ(Decode("ResourceQuota", kKubectlQuota), J(R"({
    "kind": "ResourceQuota", "apiVersion": "v1",
    "metadata": {"name": "q", "namespace": "team-a"},
    "spec": {"hard": {"pods": "2", "requests.cpu": "500m", "services": "3"},
             "scopes": ["NotTerminating"]},
    "status": {}
  })"));
}

TEST_F(ProtobufTest, RealKubectlRoleBinding) {
  auto r = DecodeKubernetesProtobuf(kKubectlRoleBinding, kRbacV1RoleBindingProto,
                                    "rbac.authorization.k8s.io/v1", "RoleBinding");
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(json::value(*r), J(R"({
    "kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
    "metadata": {"name": "rb", "namespace": "team-a"},
    "subjects": [
      {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
      {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "devs"},
      {"kind": "ServiceAccount", "name": "bot", "namespace": "team-a"}],
    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"}
  })"));
}

TEST_F(ProtobufTest, RoleBindingRequiredFieldsAreAlwaysWritten) {
  auto r = DecodeProtoMessage(Len(2, ""), kRbacV1RoleBindingProto);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(json::value(*r), J(R"({
    "metadata": {}, "subjects": [{"kind": "", "name": ""}],
    "roleRef": {"apiGroup": "", "kind": "", "name": ""}})"));
}

TEST_F(ProtobufTest, Times) {
  auto created = [&](std::string time_message) {
    std::string raw = Len(1, Len(1, "ns") + Len(8, time_message));
    json::value v = Decode("Namespace", Envelope("v1", "Namespace", raw));
    const json::value* t = Find(v, "metadata.creationTimestamp");
    return t == nullptr ? std::string("<omitted>") : Serialize(*t);
  };
  EXPECT_EQ(created(""), "<omitted>");                  // what Go sends for the zero time
  EXPECT_EQ(created(Time(-62135596800)), "<omitted>");  // the zero time spelled out
  EXPECT_EQ(created(Time(-62135596799)), R"("0001-01-01T00:00:01Z")");
  EXPECT_EQ(created(Time(0)), R"("1970-01-01T00:00:00Z")");
  EXPECT_EQ(created(Int(2, 5)), R"("1970-01-01T00:00:00Z")");  // seconds default to 0
  EXPECT_EQ(created(Time(-1)), R"("1969-12-31T23:59:59Z")");
  EXPECT_EQ(created(Time(951782400)), R"("2000-02-29T00:00:00Z")");
  EXPECT_EQ(created(Time(1700000000, 999'999'999)), R"("2023-11-14T22:13:20Z")");
  EXPECT_EQ(created(Time(253402300799)), R"("9999-12-31T23:59:59Z")");
  EXPECT_EQ(created(Time(1700000000) + UnknownFields()), R"("2023-11-14T22:13:20Z")");

  auto error = [&](std::string time_message) {
    std::string raw = Len(1, Len(1, "ns") + Len(8, time_message));
    return DecodeError("Namespace", Envelope("v1", "Namespace", raw));
  };
  EXPECT_THAT(error(Time(253402300800)), HasSubstr("Namespace.metadata.creationTimestamp: time"));
  EXPECT_THAT(error(Time(-62135596801)), HasSubstr("outside 0001-01-01T00:00:00Z"));
  EXPECT_THAT(error(Time(0, -1)), HasSubstr("nanos -1 is outside 0..999999999"));
  EXPECT_THAT(error(Len(1, "x")), HasSubstr("Time field 1 is no varint"));
}

TEST_F(ProtobufTest, OmitEmptyFollowsTheGoTags) {
  std::string owner = Len(1, "ReplicaSet") + Len(3, "rs") + Int(6, 0);  // controller: false
  std::string metadata = Len(1, "ns") + Len(2, "") + Int(7, 0) + Int(10, 0) + Len(13, owner) +
                         Len(13, Int(7, 1)) + Len(9, "");
  EXPECT_EQ(Decode("Namespace", Envelope("v1", "Namespace", Len(1, metadata))), J(R"({
    "kind": "Namespace", "apiVersion": "v1",
    "metadata": {
      "name": "ns",
      "deletionGracePeriodSeconds": 0,
      "ownerReferences": [
        {"apiVersion": "", "kind": "ReplicaSet", "name": "rs", "uid": "", "controller": false},
        {"apiVersion": "", "kind": "", "name": "", "uid": "", "blockOwnerDeletion": true}]
    },
    "spec": {}, "status": {}
  })"));
  std::string numbers = Len(1, "ns") + Int(7, 3) + Int(10, static_cast<uint64_t>(int64_t{-1}));
  json::value v = Decode("Namespace", Envelope("v1", "Namespace", Len(1, numbers)));
  EXPECT_EQ(v.at("metadata"), J(R"({"name": "ns", "generation": 3,
                                    "deletionGracePeriodSeconds": -1})"));
}

TEST_F(ProtobufTest, ManagedFieldsEmbedFieldsV1Json) {
  std::string entry = Len(1, "kubectl-create") + Len(2, "Update") + Len(3, "v1") +
                      Len(4, Time(1700000000)) + Len(6, "FieldsV1") +
                      Len(7, Len(1, R"({"f:metadata":{"f:labels":{".":{},"f:team":{}}}})"));
  std::string raw = Len(1, Len(1, "ns") + Len(17, entry) + Len(17, Len(7, "")));
  json::value v = Decode("Namespace", Envelope("v1", "Namespace", raw));
  EXPECT_EQ(v.at("metadata").at("managedFields"), J(R"([
    {"manager": "kubectl-create", "operation": "Update", "apiVersion": "v1",
     "time": "2023-11-14T22:13:20Z", "fieldsType": "FieldsV1",
     "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:team": {}}}}},
    {}])"));

  std::string bad = Len(1, Len(1, "ns") + Len(17, Len(7, Len(1, "{not json"))));
  EXPECT_THAT(
      DecodeError("Namespace", Envelope("v1", "Namespace", bad)),
      HasSubstr("Namespace.metadata.managedFields[0].fieldsV1: FieldsV1 is not valid JSON"));
}

TEST_F(ProtobufTest, UnknownFieldsAreSkippedAtEveryLevel) {
  std::string metadata = UnknownFields() + Len(1, "team-a") + UnknownFields() +
                         Len(11, Len(1, "team") + UnknownFields() + Len(2, "a")) +
                         Len(8, UnknownFields() + Time(1700000000));
  std::string spec = Entry(1, "pods", Quantity("2") + UnknownFields()) + UnknownFields();
  std::string raw = UnknownFields() + Len(1, metadata) + Len(2, spec) + UnknownFields();
  std::string body = std::string("k8s\0", 4) + UnknownFields() +
                     Len(1, UnknownFields() + Len(1, "v1") + Len(2, "ResourceQuota")) +
                     Len(2, raw) + Len(4, "application/vnd.kubernetes.protobuf") + UnknownFields();
  EXPECT_EQ(Decode("ResourceQuota", body), J(R"({
    "kind": "ResourceQuota", "apiVersion": "v1",
    "metadata": {"name": "team-a", "creationTimestamp": "2023-11-14T22:13:20Z",
                 "labels": {"team": "a"}},
    "spec": {"hard": {"pods": "2"}}, "status": {}
  })"));
}

TEST_F(ProtobufTest, LaterValuesWin) {
  // A scalar repeated on the wire keeps the last value; a repeated map key replaces the value.
  std::string metadata = Len(1, "first") + Len(1, "second") + Entry(11, "k", "1") +
                         Entry(11, "other", "x") + Entry(11, "k", "2");
  json::value v = Decode("Namespace", Envelope("v1", "Namespace", Len(1, metadata)));
  EXPECT_EQ(v.at("metadata"), J(R"({"name": "second", "labels": {"k": "2", "other": "x"}})"));
}

TEST_F(ProtobufTest, EnvelopeErrors) {
  const std::string raw = Len(1, Len(1, "ns"));
  EXPECT_THAT(DecodeError("Namespace", ""), HasSubstr("does not start with the Kubernetes prefix"));
  EXPECT_THAT(DecodeError("Namespace", "k8s"), HasSubstr("does not start with the Kubernetes"));
  EXPECT_THAT(DecodeError("Namespace", R"({"kind":"Namespace"})"),
              HasSubstr("does not start with the Kubernetes prefix"));
  EXPECT_THAT(DecodeError("Namespace", "K8s" + Envelope("v1", "Namespace", raw).substr(3)),
              HasSubstr("does not start with the Kubernetes prefix"));
  EXPECT_THAT(DecodeError("Namespace", std::string("k8s\0", 4)), HasSubstr("has no kind"));
  EXPECT_THAT(DecodeError("Namespace", Envelope("v1", "", raw)),
              HasSubstr("runtime.Unknown.typeMeta: the object has no kind"));
  EXPECT_THAT(DecodeError("Namespace", Envelope("", "Namespace", raw)),
              HasSubstr("the object has no apiVersion"));
  EXPECT_EQ(DecodeError("Namespace", Envelope("v1", "ResourceQuota", raw)),
            "the kind in the data (ResourceQuota) does not match the expected kind (Namespace)");
  EXPECT_EQ(DecodeError("Namespace", Envelope("apps/v1", "Namespace", raw)),
            "the API version in the data (apps/v1) does not match the expected API version (v1)");
  EXPECT_THAT(DecodeError("Namespace", Envelope("v1", "Namespace", raw) + Len(3, "gzip")),
              HasSubstr("contentEncoding is not supported (got \"gzip\")"));
  EXPECT_THAT(DecodeError("Namespace", Envelope("v1", "Namespace", raw) + Len(4, "text/plain")),
              HasSubstr("contentType must be application/vnd.kubernetes.protobuf"));
  EXPECT_THAT(DecodeError("Namespace", std::string("k8s\0", 4) + Int(1, 5)),
              HasSubstr("runtime.Unknown: field 1 is not length-delimited"));
  EXPECT_THAT(DecodeError("Namespace", Envelope("v1", "Name\xff", raw)),
              HasSubstr("not valid UTF-8"));
}

TEST_F(ProtobufTest, WireErrors) {
  auto body = [](std::string raw) { return Envelope("v1", "Namespace", raw); };
  // A length running past the end of the message that holds it.
  EXPECT_THAT(DecodeError("Namespace", body(Key(1, 2) + Varint(100) + "short")),
              HasSubstr("Namespace.metadata: truncated length-delimited field"));
  EXPECT_THAT(DecodeError("Namespace", kKubectlNamespace.substr(0, 30)),
              HasSubstr("runtime.Unknown: truncated length-delimited field"));
  // A varint cut short, longer than 10 bytes, or past 64 bits.
  EXPECT_THAT(DecodeError("Namespace", body(Len(1, Key(7, 0) + "\x80"))),
              HasSubstr("Namespace.metadata.generation: truncated varint"));
  EXPECT_THAT(DecodeError("Namespace", body(Len(1, Key(7, 0) + std::string(10, '\xff') + "\x01"))),
              HasSubstr("Namespace.metadata.generation: varint longer than 10 bytes"));
  EXPECT_THAT(DecodeError("Namespace", body(Len(1, Key(7, 0) + std::string(9, '\xff') + "\x02"))),
              HasSubstr("varint overflows 64 bits"));
  EXPECT_THAT(DecodeError("Namespace", body(std::string(11, '\x80'))),
              HasSubstr("Namespace: varint longer than 10 bytes"));
  // The largest varint is fine (generation = -1).
  EXPECT_EQ(Decode("Namespace", body(Len(1, Key(7, 0) + std::string(9, '\xff') + "\x01")))
                .at("metadata")
                .at("generation"),
            json::value(-1));
  // Keys: field number 0, numbers past 2^29-1, and wire types Kubernetes never uses.
  EXPECT_THAT(DecodeError("Namespace", body(std::string("\x00\x00", 2))),
              HasSubstr("field number 0 is not valid"));
  EXPECT_THAT(DecodeError("Namespace", body(Varint(uint64_t{1} << 32) + "\x00")),
              HasSubstr("field key out of range"));
  EXPECT_THAT(DecodeError("Namespace", body(Key(50, 3) + Key(50, 4))),
              HasSubstr("field 50: groups (wire types 3 and 4) are not used by Kubernetes"));
  EXPECT_THAT(DecodeError("Namespace", body(Key(50, 6))), HasSubstr("field 50: invalid wire type"));
  EXPECT_THAT(DecodeError("Namespace", body(Key(50, 7))), HasSubstr("invalid wire type"));
  EXPECT_THAT(DecodeError("Namespace", body(Key(50, 1) + "1234567")),
              HasSubstr("field 50: truncated fixed-width field"));
  EXPECT_THAT(DecodeError("Namespace", body(Key(50, 5) + "123")),
              HasSubstr("truncated fixed-width field"));
  // A known field with the wrong wire type.
  EXPECT_THAT(DecodeError("Namespace", body(Len(1, Int(1, 7)))),
              HasSubstr("Namespace.metadata: name (field 1) has wire type 0, expected 2"));
  EXPECT_THAT(DecodeError("Namespace", body(Len(1, Len(7, "3")))),
              HasSubstr("generation (field 7) has wire type 2, expected 0"));
}

TEST_F(ProtobufTest, StringsMustBeUtf8) {
  auto error = [&](std::string metadata) {
    return DecodeError("Namespace", Envelope("v1", "Namespace", Len(1, metadata)));
  };
  EXPECT_THAT(error(Len(1, "bad\xff")), HasSubstr("Namespace.metadata.name: string is not valid"));
  EXPECT_THAT(error(Len(1, "\xc0\xaf")), HasSubstr("not valid UTF-8"));          // overlong '/'
  EXPECT_THAT(error(Len(1, "\xed\xa0\x80")), HasSubstr("not valid UTF-8"));      // surrogate
  EXPECT_THAT(error(Len(1, "\xf4\x90\x80\x80")), HasSubstr("not valid UTF-8"));  // > U+10FFFF
  EXPECT_THAT(error(Len(1, "\xe2\x82")), HasSubstr("not valid UTF-8"));          // cut short
  EXPECT_THAT(error(Entry(11, "k\xff", "v")),
              HasSubstr("Namespace.metadata.labels: map key is not valid UTF-8"));
  EXPECT_THAT(error(Entry(12, "k", "v\xff")), HasSubstr("map value of \"k\" is not valid UTF-8"));
  EXPECT_THAT(error(Len(14, "ok") + Len(14, "\x80")),
              HasSubstr("Namespace.metadata.finalizers[1]: string is not valid UTF-8"));
  // Multi-byte characters of every length are fine.
  json::value v = Decode("Namespace", Envelope("v1", "Namespace", Len(1, Len(1, "é€😀"))));
  EXPECT_EQ(v.at("metadata").at("name"), "é€😀");
}

// A message that contains itself, to reach the nesting limit.
extern const ProtoMessage kNodeProto;
constexpr ProtoField kNodeFields[] = {
    {.number = 1, .json_name = "name"},
    {.number = 2,
     .json_name = "child",
     .type = ProtoType::kMessage,
     .emit = ProtoEmit::kPresence,
     .message = &kNodeProto},
};
constinit const ProtoMessage kNodeProto{"Node", kNodeFields};

std::string Nested(int levels) {
  std::string m = Len(1, "leaf");
  for (int i = 1; i < levels; ++i) m = Len(2, m);
  return m;
}

TEST_F(ProtobufTest, NestingIsLimited) {
  auto ok = DecodeProtoMessage(Nested(kMaxProtoDepth), kNodeProto);
  ASSERT_TRUE(ok) << ok.error();
  auto deep = DecodeProtoMessage(Nested(kMaxProtoDepth + 1), kNodeProto);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(deep.error().message(), HasSubstr("Node.child.child."));
  EXPECT_THAT(deep.error().message(), HasSubstr("messages nested deeper than 32 levels"));
  // A body far deeper than the limit fails the same way (no stack exhaustion).
  EXPECT_FALSE(DecodeProtoMessage(Nested(5000), kNodeProto));
}

// Truncations and byte flips of real bodies: never a crash, only InvalidArgument, and whatever
// decodes is JSON that parses back (valid UTF-8, as the store needs).
TEST_F(ProtobufTest, MutatedBodiesFailCleanly) {
  std::mt19937 rng(20240607);
  int decoded = 0;
  int rejected = 0;
  for (const auto& [kind, body] :
       {std::pair<std::string_view, std::string>{"Namespace", kKubectlNamespace},
        {"ResourceQuota", kKubectlQuota}}) {
    std::vector<std::string> inputs;
    for (size_t n = 0; n <= body.size(); ++n) inputs.push_back(body.substr(0, n));
    for (int i = 0; i < 3000; ++i) {
      std::string m = body;
      int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        size_t at = rng() % m.size();
        switch (rng() % 3) {
          case 0:
            m[at] = static_cast<char>(rng());
            break;
          case 1:
            m[at] = static_cast<char>(m[at] ^ (1 << (rng() % 8)));
            break;
          default:
            m.insert(at, 1, static_cast<char>(rng()));
            break;
        }
      }
      inputs.push_back(std::move(m));
    }
    for (const auto& in : inputs) {
      auto r = DecodeKubernetesProtobuf(in, Descriptor(kind), "v1", kind);
      if (r) {
        ++decoded;
        auto back = ParseJson(Serialize(*r));
        EXPECT_TRUE(back) << back.error();
      } else {
        ++rejected;
        EXPECT_EQ(r.error().code(), Code::kInvalidArgument) << r.error();
        EXPECT_THAT(r.error().message(), ::testing::Not(::testing::IsEmpty()));
      }
    }
  }
  EXPECT_GT(decoded, 0);
  EXPECT_GT(rejected, 0);
}

// Checks a descriptor tree: numbers valid and unique, JSON names unique, message pointers set
// exactly for messages, and no struct-valued field marked omitempty (Go never omits those).
void CheckDescriptor(const ProtoMessage& m, std::set<const ProtoMessage*>& seen) {
  if (!seen.insert(&m).second) return;
  SCOPED_TRACE(std::string(m.name));
  EXPECT_FALSE(m.name.empty());
  EXPECT_FALSE(m.fields.empty());
  std::set<uint32_t> numbers;
  std::set<std::string_view> names;
  for (const ProtoField& f : m.fields) {
    SCOPED_TRACE(std::string(f.json_name));
    EXPECT_GE(f.number, 1u);
    EXPECT_LE(f.number, (1u << 29) - 1);
    EXPECT_TRUE(numbers.insert(f.number).second) << "duplicate number " << f.number;
    EXPECT_TRUE(names.insert(f.json_name).second) << "duplicate JSON name";
    EXPECT_EQ(f.message != nullptr, f.type == ProtoType::kMessage);
    if (f.type == ProtoType::kStringMap || f.type == ProtoType::kQuantityMap) {
      EXPECT_FALSE(f.repeated);
    }
    if (f.type == ProtoType::kMessage && !f.repeated) {
      EXPECT_NE(f.emit, ProtoEmit::kOmitEmpty);
    }
    if (f.message != nullptr) CheckDescriptor(*f.message, seen);
  }
}

TEST_F(ProtobufTest, DescriptorsAreWellFormed) {
  std::set<const ProtoMessage*> seen;
  int with_protobuf = 0;
  for (const auto& k : kinds_.kinds()) {
    if (k->protobuf == nullptr) continue;
    ++with_protobuf;
    EXPECT_EQ(k->protobuf->name, k->kind);
    CheckDescriptor(*k->protobuf, seen);
  }
  EXPECT_EQ(with_protobuf, 3);  // Namespace, ResourceQuota, LimitRange
  CheckDescriptor(kRbacV1RoleBindingProto, seen);
  CheckDescriptor(kObjectMetaProto, seen);
}

// ---------------------------------------------------------------------------------------------
// Through ResourceApi, as kubectl sends them.

class ProtobufApiTest : public ApiTest {
 protected:
  Reply Send(std::string method, std::string_view target, std::string body) {
    return Do(std::move(method), target, std::move(body),
              {{"Content-Type", "application/vnd.kubernetes.protobuf"},
               {"Accept", "application/vnd.kubernetes.protobuf,application/json"}});
  }
};

TEST_F(ProtobufApiTest, CreateNamespace) {
  std::string metadata = Len(1, "team-a") + Entry(11, "team", "a") + Entry(12, "owner", "ops") +
                         Len(14, "example.com/cleanup") + Len(8, "");
  Reply r = Send("POST", "/api/v1/namespaces?fieldManager=kubectl-create&fieldValidation=Strict",
                 Envelope("v1", "Namespace", Len(1, metadata) + Len(2, "") + Len(3, "")));
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.headers.Get("Content-Type").value_or(""), "application/json");
  EXPECT_EQ(r.Str("metadata.name"), "team-a");

  Reply got = Get("/api/v1/namespaces/team-a");
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(got.At("metadata.labels"), J(R"({"team": "a"})"));
  EXPECT_EQ(got.At("metadata.annotations"), J(R"({"owner": "ops"})"));
  EXPECT_EQ(got.At("metadata.finalizers"), J(R"(["example.com/cleanup"])"));
  EXPECT_EQ(got.At("spec.finalizers"), J(R"(["kubernetes"])"));
  EXPECT_EQ(got.Str("status.phase"), "Active");
  EXPECT_FALSE(got.Str("metadata.uid").empty());
  EXPECT_FALSE(got.Str("metadata.creationTimestamp").empty());
}

TEST_F(ProtobufApiTest, RealKubectlBodies) {
  Reply ns = Send("POST", "/api/v1/namespaces?fieldManager=kubectl-create&fieldValidation=Strict",
                  kKubectlNamespace);
  ASSERT_EQ(ns.status, 201) << ns;
  EXPECT_EQ(ns.Str("metadata.name"), "team-a");
  EXPECT_EQ(ns.Str("status.phase"), "Active");

  Reply q = Send("POST",
                 "/api/v1/namespaces/team-a/resourcequotas?fieldManager=kubectl-create&"
                 "fieldValidation=Strict",
                 kKubectlQuota);
  ASSERT_EQ(q.status, 201) << q;
  Reply got = Get("/api/v1/namespaces/team-a/resourcequotas/q");
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(got.At("spec"), J(R"({"hard": {"pods": "2", "requests.cpu": "500m", "services": "3"},
                                  "scopes": ["NotTerminating"]})"));
}

TEST_F(ProtobufApiTest, UpdateResourceQuota) {
  ASSERT_EQ(CreateNamespace("team-a").status, 201);
  Reply created = CreateQuota("team-a", "q");
  ASSERT_EQ(created.status, 201) << created;
  std::string metadata = Len(1, "q") + Len(3, "team-a") +
                         Len(6, created.Str("metadata.resourceVersion")) + Entry(11, "tier", "1");
  std::string spec = Entry(1, "pods", Quantity("20")) + Entry(1, "services", Quantity("5"));
  Reply r = Send("PUT", "/api/v1/namespaces/team-a/resourcequotas/q",
                 Envelope("v1", "ResourceQuota", Len(1, metadata) + Len(2, spec)));
  ASSERT_EQ(r.status, 200) << r;
  Reply got = Get("/api/v1/namespaces/team-a/resourcequotas/q");
  EXPECT_EQ(got.At("spec.hard"), J(R"({"pods": "20", "services": "5"})"));
  EXPECT_EQ(got.At("metadata.labels"), J(R"({"tier": "1"})"));

  // A stale resourceVersion is the usual conflict.
  Reply stale = Send("PUT", "/api/v1/namespaces/team-a/resourcequotas/q",
                     Envelope("v1", "ResourceQuota", Len(1, metadata) + Len(2, spec)));
  EXPECT_EQ(stale.status, 409) << stale;
}

TEST_F(ProtobufApiTest, MalformedBodyIsBadRequest) {
  Reply r = Send("POST", "/api/v1/namespaces", kKubectlNamespace.substr(0, 40));
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(r.Str("reason"), "BadRequest");
  EXPECT_THAT(r.Str("message"), HasSubstr("invalid protobuf body: runtime.Unknown: truncated"));
  EXPECT_EQ(store_->writes(), 0);
}

TEST_F(ProtobufApiTest, KindMismatchIsBadRequest) {
  ASSERT_EQ(CreateNamespace("team-a").status, 201);
  Reply r = Send("POST", "/api/v1/namespaces/team-a/limitranges", kKubectlQuota);
  EXPECT_EQ(r.status, 400) << r;
  EXPECT_EQ(r.Str("message"),
            "the kind in the data (ResourceQuota) does not match the expected kind (LimitRange)");
}

TEST_F(ProtobufApiTest, KindWithoutDescriptorIsUnsupportedMediaType) {
  ASSERT_EQ(CreateNamespace("team-a").status, 201);
  Reply r = Send("POST", "/apis/example.com/v1/namespaces/team-a/widgets",
                 Envelope("example.com/v1", "Widget", Len(1, Len(1, "w"))));
  EXPECT_EQ(r.status, 415) << r;
  EXPECT_EQ(r.Str("reason"), "UnsupportedMediaType");
  EXPECT_EQ(r.Str("message"),
            "Widget (example.com/v1) cannot be sent as application/vnd.kubernetes.protobuf: send "
            "application/json");
}

}  // namespace
}  // namespace skiff::api
