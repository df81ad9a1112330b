#include "store/selector.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>

namespace skiff::store {
namespace {

using ::testing::HasSubstr;

struct ValidCase {
  std::string input;
  std::string canonical;  // ToString() of the parsed selector
};

class SelectorValidTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(SelectorValidTest, ParsesToCanonicalFormAndRoundTrips) {
  const ValidCase& c = GetParam();
  Result<Selector> s = Selector::Parse(c.input);
  ASSERT_TRUE(s) << c.input << ": " << s.error();
  EXPECT_EQ(s->ToString(), c.canonical) << c.input;
  Result<Selector> again = Selector::Parse(s->ToString());
  ASSERT_TRUE(again) << again.error();
  EXPECT_EQ(*again, *s) << c.input;
}

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorValidTest,
    ::testing::Values(
        ValidCase{"", ""}, ValidCase{"   ", ""}, ValidCase{"a=b", "a=b"}, ValidCase{"a==b", "a=b"},
        ValidCase{"a!=b", "a!=b"}, ValidCase{"a in (x,y)", "a in (x,y)"},
        ValidCase{"a in (y, x, x)", "a in (x,y)"}, ValidCase{"a notin (x)", "a notin (x)"},
        ValidCase{"a", "a"}, ValidCase{"!a", "!a"}, ValidCase{" ! a ", "!a"},
        ValidCase{"b=1,a=2", "a=2,b=1"}, ValidCase{"a=", "a="}, ValidCase{"a=,b", "a=,b"},
        ValidCase{"a in ()", "a in ()"}, ValidCase{"a in (,x)", "a in (,x)"},
        ValidCase{"a in (x,)", "a in (,x)"}, ValidCase{"a in (x,,y)", "a in (,x,y)"},
        ValidCase{"x>1", "x>1"}, ValidCase{"x<10", "x<10"},
        ValidCase{"example.com/app=web", "example.com/app=web"}, ValidCase{"in=notin", "in=notin"},
        ValidCase{"a in (in,notin)", "a in (in,notin)"},
        ValidCase{"  a = b ,\tc in ( d , e ) ,\n!f  ", "a=b,c in (d,e),!f"},
        ValidCase{"app.kubernetes.io/name=My_App-1.0", "app.kubernetes.io/name=My_App-1.0"},
        ValidCase{"a=b,a!=c", "a=b,a!=c"}));

struct InvalidCase {
  std::string input;
  std::string message;  // a substring of the error message
};

class SelectorInvalidTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(SelectorInvalidTest, FailsWithAMessageNamingTheProblem) {
  const InvalidCase& c = GetParam();
  Result<Selector> s = Selector::Parse(c.input);
  ASSERT_FALSE(s) << c.input << " parsed as " << s->ToString();
  EXPECT_EQ(s.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(s.error().message(), HasSubstr("invalid label selector \"" + c.input + "\""));
  EXPECT_THAT(s.error().message(), HasSubstr(c.message)) << c.input;
}

const std::string k64(64, 'a');

INSTANTIATE_TEST_SUITE_P(
    Table, SelectorInvalidTest,
    ::testing::Values(
        InvalidCase{"a=b,", "found end of string at position 4, expected: identifier after ','"},
        InvalidCase{",a", "found ',' at position 0, expected: !, identifier, or end of string"},
        InvalidCase{"a in", "found end of string at position 4, expected: '('"},
        InvalidCase{"a in (b", "found end of string at position 7, expected: ',' or ')'"},
        InvalidCase{"a in (x y)", "found 'y' at position 8, expected: ',' or ')'"},
        InvalidCase{"a in (x,,)", "found ')' at position 9, expected: ',', or identifier"},
        InvalidCase{"a in x", "found 'x' at position 5, expected: '('"},
        InvalidCase{"a b", "found 'b' at position 2, expected: one of in, notin, =, ==, !=, >, <"},
        InvalidCase{"a=b=c", "found '=' at position 3, expected: ',' or end of string"},
        InvalidCase{"!a=b", "found '=' at position 2, expected: ',' or end of string"},
        InvalidCase{"a=(b)", "found '(' at position 2, expected: identifier"},
        InvalidCase{"!", "found end of string at position 1, expected: identifier"},
        InvalidCase{"a/b/c=d", "invalid label key \"a/b/c\": a qualified name has at most one '/'"},
        InvalidCase{
            "A.com/x=y",
            "invalid label key \"A.com/x\": prefix part must be a lowercase RFC 1123 subdomain"},
        InvalidCase{"/x", "invalid label key \"/x\": prefix part must be non-empty"},
        InvalidCase{"x/", "invalid label key \"x/\": name part must be non-empty"},
        InvalidCase{"-a=b", "invalid label key \"-a\": name part must consist of alphanumeric"},
        InvalidCase{k64 + "=b", "name part must be no more than 63 characters"},
        InvalidCase{"a=-b", "key \"a\": invalid label value \"-b\": must be an empty string or"},
        InvalidCase{"a=" + k64, "invalid label value \"" + k64 + "\": must be no more than 63"},
        InvalidCase{"a in (ok,b@d)", "invalid label value \"b@d\""},
        InvalidCase{"a>b", "for '>' and '<' operators, the value must be an integer"},
        InvalidCase{"a<", "for '>' and '<' operators, the value must be an integer"}));

TEST(SelectorTest, ValidatesKeysAndValuesDirectly) {
  EXPECT_TRUE(ValidateLabelKey("app").ok());
  EXPECT_TRUE(ValidateLabelKey("kubeflow.org/profile-name").ok());
  EXPECT_TRUE(ValidateLabelKey(std::string(253 - 4, 'a') + ".com/" + std::string(63, 'x')).ok());
  EXPECT_FALSE(ValidateLabelKey(std::string(250, 'a') + ".com/x").ok());  // prefix > 253
  EXPECT_FALSE(ValidateLabelKey("").ok());
  EXPECT_FALSE(ValidateLabelKey("a..com/x").ok());
  EXPECT_TRUE(ValidateLabelValue("").ok());
  EXPECT_TRUE(ValidateLabelValue(std::string(63, 'v')).ok());
  EXPECT_FALSE(ValidateLabelValue(std::string(64, 'v')).ok());
  EXPECT_FALSE(ValidateLabelValue("a ").ok());
  EXPECT_FALSE(ValidateLabelValue("_a").ok());
}

Selector Must(std::string_view text) {
  Result<Selector> s = Selector::Parse(text);
  EXPECT_TRUE(s) << s.error();
  return s ? *s : Selector();
}

TEST(SelectorTest, MatchesLikeKubernetes) {
  const std::map<std::string, std::string> web{{"app", "web"}, {"tier", "front"}, {"n", "5"}};
  const std::map<std::string, std::string> none;

  EXPECT_TRUE(Must("").Matches(none));
  EXPECT_TRUE(Must("app=web").Matches(web));
  EXPECT_FALSE(Must("app=web").Matches(none));
  EXPECT_FALSE(Must("app=db").Matches(web));
  // != and notin match objects that lack the label.
  EXPECT_TRUE(Must("app!=web").Matches(none));
  EXPECT_FALSE(Must("app!=web").Matches(web));
  EXPECT_TRUE(Must("app!=db").Matches(web));
  EXPECT_TRUE(Must("app notin (web)").Matches(none));
  EXPECT_FALSE(Must("app notin (web,db)").Matches(web));
  EXPECT_TRUE(Must("app notin (db)").Matches(web));
  EXPECT_TRUE(Must("app in (db,web)").Matches(web));
  EXPECT_FALSE(Must("app in (db,web)").Matches(none));
  EXPECT_TRUE(Must("app").Matches(web));
  EXPECT_FALSE(Must("app").Matches(none));
  EXPECT_TRUE(Must("!app").Matches(none));
  EXPECT_FALSE(Must("!app").Matches(web));
  EXPECT_TRUE(Must("app=web,tier=front").Matches(web));
  EXPECT_FALSE(Must("app=web,tier=back").Matches(web));
  EXPECT_TRUE(Must("n>4").Matches(web));
  EXPECT_FALSE(Must("n>5").Matches(web));
  EXPECT_TRUE(Must("n<6").Matches(web));
  EXPECT_FALSE(Must("n<6").Matches(none));   // missing: no match for > and <
  EXPECT_FALSE(Must("app>1").Matches(web));  // not an integer: no match
  // "a=" selects the empty value, which is not the same as a missing label.
  EXPECT_TRUE(Must("app=").Matches({{"app", ""}}));
  EXPECT_FALSE(Must("app=").Matches(none));
}

TEST(SelectorTest, MatchesObjectReadsMetadataLabels) {
  json::object labelled = {{"metadata", {{"name", "x"}, {"labels", {{"app", "web"}}}}}};
  json::object unlabelled = {{"metadata", {{"name", "x"}}}};
  json::object odd = {{"metadata", {{"labels", {{"app", 5}}}}}};
  EXPECT_TRUE(Must("app=web").MatchesObject(labelled));
  EXPECT_FALSE(Must("app=web").MatchesObject(unlabelled));
  EXPECT_TRUE(Must("app!=web").MatchesObject(unlabelled));
  EXPECT_TRUE(Must("!app").MatchesObject(json::object{}));
  EXPECT_TRUE(Must("!app").MatchesObject(odd));  // a non-string value counts as absent
  EXPECT_TRUE(Must("").MatchesObject(json::object{}));
  EXPECT_TRUE(Must("app in (web)").MatchesLabels(json::object{{"app", "web"}}));
}

TEST(SelectorTest, RequirementsAreSortedByKeyWithSortedValues) {
  Selector s = Must("z=1,a notin (c,b,c),m");
  ASSERT_EQ(s.requirements().size(), 3u);
  EXPECT_EQ(s.requirements()[0].key, "a");
  EXPECT_EQ(s.requirements()[0].op, Requirement::Op::kNotIn);
  EXPECT_EQ(s.requirements()[0].values, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(s.requirements()[1].op, Requirement::Op::kExists);
  EXPECT_EQ(s.requirements()[2].op, Requirement::Op::kEquals);
  EXPECT_EQ(s.ToString(), "a notin (b,c),m,z=1");
}

// Random token soup: parsing never crashes, and whatever parses prints back to itself.
TEST(SelectorTest, RandomInputsParseOrFailCleanlyAndRoundTrip) {
  const std::vector<std::string> pieces = {
      "a", "b", "x.y/z", "in", "notin", "=", "==", "!=", "!", "(",  ")",
      ",", " ", "<",     ">",  "1",     "-", "_",  "A",  "/", "\t", "é"};
  std::mt19937 rng(12345);  // fixed seed: deterministic
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text;
    const int n = static_cast<int>(rng() % 12);
    for (int j = 0; j < n; ++j) text += pieces[rng() % pieces.size()];
    Result<Selector> s = Selector::Parse(text);
    if (!s) {
      EXPECT_EQ(s.error().code(), Code::kInvalidArgument) << text;
      continue;
    }
    ++parsed;
    Result<Selector> again = Selector::Parse(s->ToString());
    ASSERT_TRUE(again) << text << " -> " << s->ToString() << ": " << again.error();
    EXPECT_EQ(*again, *s) << text << " -> " << s->ToString();
  }
  EXPECT_GT(parsed, 100);
}

}  // namespace
}  // namespace skiff::store
