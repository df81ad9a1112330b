#include "core/fs.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

namespace skiff {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;

class FsTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = "/tmp/skiff-core-fs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  static unsigned ModeOf(const std::string& path) {
    struct stat st;
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }

  // Entries of dir_, to check that no temporary files are left behind.
  std::vector<std::string> Entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
};

// Sets the process umask for the scope. Tests in this binary run one at a time.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t m) : old_(::umask(m)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST_F(FsTest, WriteThenRead) {
  const std::string p = Path("a.txt");
  ASSERT_TRUE(WriteFileAtomic(p, "hello\n", 0644).ok());
  auto r = ReadFile(p);
  ASSERT_TRUE(r) << r.error();
  EXPECT_EQ(*r, "hello\n");
  EXPECT_TRUE(FileExists(p));
  EXPECT_EQ(Entries(), std::vector<std::string>{"a.txt"});
}

TEST_F(FsTest, BinaryAndEmptyContent) {
  std::string data;
  for (int i = 0; i < 200000; ++i) data += static_cast<char>(i * 7);
  ASSERT_TRUE(WriteFileAtomic(Path("bin"), data, 0600).ok());
  EXPECT_EQ(*ReadFile(Path("bin")), data);
  ASSERT_TRUE(WriteFileAtomic(Path("empty"), "", 0600).ok());
  EXPECT_EQ(*ReadFile(Path("empty")), "");
}

TEST_F(FsTest, ModeIsExactUnderPermissiveUmask) {
  ScopedUmask umask(0);
  ASSERT_TRUE(WriteFileAtomic(Path("secret"), "s", 0600).ok());
  EXPECT_EQ(ModeOf(Path("secret")), 0600u);
  ASSERT_TRUE(WriteFileAtomic(Path("public"), "p", 0644).ok());
  EXPECT_EQ(ModeOf(Path("public")), 0644u);
}

TEST_F(FsTest, ModeIsExactUnderRestrictiveUmask) {
  ScopedUmask umask(0077);
  ASSERT_TRUE(WriteFileAtomic(Path("shared"), "s", 0644).ok());
  EXPECT_EQ(ModeOf(Path("shared")), 0644u);
  ScopedUmask stricter(0777);
  ASSERT_TRUE(WriteFileAtomic(Path("secret"), "s", 0600).ok());
  EXPECT_EQ(ModeOf(Path("secret")), 0600u);
}

TEST_F(FsTest, ReplaceNarrowsAnExistingFilesMode) {
  const std::string p = Path("token");
  ASSERT_TRUE(WriteFileAtomic(p, "old", 0666).ok());
  EXPECT_EQ(ModeOf(p), 0666u);
  ASSERT_TRUE(WriteFileAtomic(p, "new", 0600).ok());
  EXPECT_EQ(ModeOf(p), 0600u);
  EXPECT_EQ(*ReadFile(p), "new");
}

TEST_F(FsTest, ReplacesAtomically) {
  const std::string p = Path("state.json");
  ASSERT_TRUE(WriteFileAtomic(p, std::string(100000, 'a'), 0600).ok());
  // A reader holding the old file keeps seeing all of the old content: the new content goes
  // to a new inode that is renamed over the name.
  std::ifstream old_reader(p);
  struct stat before;
  ASSERT_EQ(::stat(p.c_str(), &before), 0);
  ASSERT_TRUE(WriteFileAtomic(p, "short", 0600).ok());
  struct stat after;
  ASSERT_EQ(::stat(p.c_str(), &after), 0);
  EXPECT_NE(before.st_ino, after.st_ino);
  std::string old_content((std::istreambuf_iterator<char>(old_reader)),
                          std::istreambuf_iterator<char>());
  EXPECT_EQ(old_content, std::string(100000, 'a'));
  EXPECT_EQ(*ReadFile(p), "short");
  EXPECT_EQ(Entries(), std::vector<std::string>{"state.json"});
}

TEST_F(FsTest, ConcurrentWritersNeverMix) {
  const std::string p = Path("contended");
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string content(50000, static_cast<char>('a' + t));
      for (int i = 0; i < 25; ++i) {
        if (!WriteFileAtomic(p, content, 0600).ok()) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures, std::vector<int>(4, 0));
  auto r = ReadFile(p);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 50000u);
  EXPECT_EQ(*r, std::string(50000, r->front()));
  EXPECT_EQ(Entries(), std::vector<std::string>{"contended"});
}

TEST_F(FsTest, WriteIntoMissingDirectoryFails) {
  Status s = WriteFileAtomic(Path("no/such/dir/file"), "x", 0600);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("no/such/dir"));
}

TEST_F(FsTest, WriteOverDirectoryFailsAndCleansUp) {
  ASSERT_TRUE(EnsureDirectory(Path("d"), 0700).ok());
  ASSERT_TRUE(WriteFileAtomic(Path("d/inner"), "x", 0600).ok());
  Status s = WriteFileAtomic(Path("d"), "x", 0600);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(Entries(), std::vector<std::string>{"d"});
}

// A permission error cannot be provoked on disk when the tests run as root (CI does): the
// mapping that turns errno into a Status is checked directly instead.
TEST(ErrnoStatusTest, MapsErrnoToTheStatusCodeAndSaysWhatFailed) {
  const std::pair<int, Code> cases[] = {
      {ENOENT, Code::kNotFound},           {EACCES, Code::kPermissionDenied},
      {EPERM, Code::kPermissionDenied},    {EROFS, Code::kPermissionDenied},
      {EEXIST, Code::kAlreadyExists},      {ENOSPC, Code::kResourceExhausted},
      {EDQUOT, Code::kResourceExhausted},  {ENOTDIR, Code::kFailedPrecondition},
      {EISDIR, Code::kFailedPrecondition}, {EIO, Code::kInternal},
  };
  for (const auto& [e, code] : cases) {
    Status s = ErrnoStatus("cannot open", "/data/x", e);
    EXPECT_EQ(s.code(), code) << e;
    EXPECT_EQ(s.message(), std::string("cannot open /data/x: ") + std::strerror(e));
  }
}

TEST_F(FsTest, ReadMissingIsNotFound) {
  auto r = ReadFile(Path("missing"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kNotFound);
  EXPECT_THAT(r.error().message(), HasSubstr("missing"));
  EXPECT_FALSE(FileExists(Path("missing")));
}

TEST_F(FsTest, ReadMaxBytes) {
  ASSERT_TRUE(WriteFileAtomic(Path("ten"), "0123456789", 0600).ok());
  EXPECT_EQ(*ReadFile(Path("ten"), 10), "0123456789");
  auto r = ReadFile(Path("ten"), 9);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), Code::kInvalidArgument);
  EXPECT_THAT(r.error().message(), HasSubstr("larger than 9 bytes"));
  EXPECT_FALSE(ReadFile(Path("ten"), 0));
  // Larger than one read buffer.
  ASSERT_TRUE(WriteFileAtomic(Path("big"), std::string(200000, 'x'), 0600).ok());
  EXPECT_FALSE(ReadFile(Path("big"), 150000));
  EXPECT_EQ(ReadFile(Path("big"), 200000)->size(), 200000u);
}

TEST_F(FsTest, ReadDirectoryFails) {
  auto r = ReadFile(dir_);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().code(), Code::kOk);
}

TEST_F(FsTest, EnsureDirectoryCreatesWithExactMode) {
  ScopedUmask umask(0022);
  const std::string p = Path("secrets");
  ASSERT_TRUE(EnsureDirectory(p, 0700).ok());
  EXPECT_TRUE(fs::is_directory(p));
  EXPECT_EQ(ModeOf(p), 0700u);
  ScopedUmask strict(0077);
  ASSERT_TRUE(EnsureDirectory(Path("open"), 0755).ok());
  EXPECT_EQ(ModeOf(Path("open")), 0755u);
}

TEST_F(FsTest, EnsureDirectoryCreatesParents) {
  const std::string p = Path("a/b/c");
  ASSERT_TRUE(EnsureDirectory(p, 0700).ok());
  EXPECT_TRUE(fs::is_directory(p));
  EXPECT_EQ(ModeOf(p), 0700u);
  EXPECT_EQ(ModeOf(Path("a")), 0755u);
  EXPECT_EQ(ModeOf(Path("a/b")), 0755u);
  ASSERT_TRUE(EnsureDirectory(Path("x/y/"), 0700).ok());
  EXPECT_TRUE(fs::is_directory(Path("x/y")));
  EXPECT_EQ(ModeOf(Path("x/y")), 0700u);
}

TEST_F(FsTest, EnsureDirectoryKeepsExistingMode) {
  const std::string p = Path("existing");
  ASSERT_EQ(::mkdir(p.c_str(), 0750), 0);
  ASSERT_EQ(::chmod(p.c_str(), 0750), 0);
  ASSERT_TRUE(EnsureDirectory(p, 0700).ok());
  EXPECT_EQ(ModeOf(p), 0750u);
}

TEST_F(FsTest, EnsureDirectoryOverFileFails) {
  ASSERT_TRUE(WriteFileAtomic(Path("file"), "x", 0644).ok());
  Status s = EnsureDirectory(Path("file"), 0700);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_EQ(ModeOf(Path("file")), 0644u);  // untouched
  EXPECT_FALSE(EnsureDirectory(Path("file/sub"), 0700).ok());
}

TEST_F(FsTest, RelativePaths) {
  const fs::path cwd = fs::current_path();
  fs::current_path(dir_);
  EXPECT_TRUE(EnsureDirectory("rel", 0700).ok());
  EXPECT_TRUE(WriteFileAtomic("rel.txt", "r", 0600).ok());
  EXPECT_EQ(*ReadFile("rel.txt"), "r");
  fs::current_path(cwd);
  EXPECT_TRUE(fs::is_directory(Path("rel")));
}

}  // namespace
}  // namespace skiff
