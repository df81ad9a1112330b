#include "http/xml.hpp"

#include <cstdint>

namespace skiff::http::xml {

const Element* Element::Child(std::string_view child_name) const {
  for (const auto& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

const std::string& Element::ChildText(std::string_view child_name) const {
  static const std::string kEmpty;
  const Element* c = Child(child_name);
  return c ? c->text : kEmpty;
}

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool IsNameChar(char c) {
  return !IsSpace(c) && c != '/' && c != '>' && c != '<' && c != '=' && c != '"' && c != '\'' &&
         c != '&' && c != '?' && c != '!';
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

class Parser {
 public:
  Parser(std::string_view s, int max_depth) : s_(s), max_depth_(max_depth) {}

  Result<Element> Document() {
    SKIFF_RETURN_IF_ERROR(SkipMisc());
    if (!Peek('<')) return Error("expected the root element");
    Element root;
    SKIFF_RETURN_IF_ERROR(ParseElement(root, 0));
    SKIFF_RETURN_IF_ERROR(SkipMisc());
    if (i_ != s_.size()) return Error("unexpected content after the root element");
    return root;
  }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgument("malformed XML at byte " + std::to_string(i_) + ": " +
                           std::string(what));
  }
  bool Peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  bool StartsWith(std::string_view p) const { return s_.substr(i_).substr(0, p.size()) == p; }
  void SkipSpace() {
    while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
  }
  // Moves past the next occurrence of `end`.
  Status SkipPast(std::string_view end, std::string_view what) {
    size_t at = s_.find(end, i_);
    if (at == std::string_view::npos) return Error("unterminated " + std::string(what));
    i_ = at + end.size();
    return Status::Ok();
  }

  // Whitespace, comments and processing instructions (the XML declaration) between elements.
  Status SkipMisc() {
    for (;;) {
      SkipSpace();
      if (StartsWith("<?")) {
        SKIFF_RETURN_IF_ERROR(SkipPast("?>", "processing instruction"));
      } else if (StartsWith("<!--")) {
        SKIFF_RETURN_IF_ERROR(SkipPast("-->", "comment"));
      } else if (StartsWith("<!")) {
        return Error("DOCTYPE and other declarations are not accepted");
      } else {
        return Status::Ok();
      }
    }
  }

  Result<std::string> Name() {
    size_t start = i_;
    while (i_ < s_.size() && IsNameChar(s_[i_])) ++i_;
    if (i_ == start) return Error("expected a name");
    std::string_view name = s_.substr(start, i_ - start);
    size_t colon = name.rfind(':');
    if (colon != std::string_view::npos) name.remove_prefix(colon + 1);
    if (name.empty()) return Error("empty local name");
    return std::string(name);
  }

  Status Attributes() {
    for (;;) {
      SkipSpace();
      if (i_ >= s_.size()) return Error("unterminated start tag");
      if (Peek('>') || StartsWith("/>")) return Status::Ok();
      SKIFF_ASSIGN_OR_RETURN(std::string attr, Name());
      (void)attr;
      SkipSpace();
      if (!Peek('=')) return Error("expected '=' after an attribute name");
      ++i_;
      SkipSpace();
      if (!Peek('"') && !Peek('\'')) return Error("expected a quoted attribute value");
      char quote = s_[i_++];
      size_t end = s_.find(quote, i_);
      if (end == std::string_view::npos) return Error("unterminated attribute value");
      if (s_.substr(i_, end - i_).find('<') != std::string_view::npos) {
        return Error("'<' in an attribute value");
      }
      i_ = end + 1;
    }
  }

  // At '&': decodes one reference into `out`.
  Status Reference(std::string& out) {
    size_t semi = s_.find(';', i_);
    if (semi == std::string_view::npos || semi - i_ > 12) return Error("bad entity reference");
    std::string_view ref = s_.substr(i_ + 1, semi - i_ - 1);
    if (ref == "amp") {
      out += '&';
    } else if (ref == "lt") {
      out += '<';
    } else if (ref == "gt") {
      out += '>';
    } else if (ref == "quot") {
      out += '"';
    } else if (ref == "apos") {
      out += '\'';
    } else if (ref.size() >= 2 && ref[0] == '#') {
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return Error("empty character reference");
      uint32_t cp = 0;
      for (char c : digits) {
        int d;
        if (c >= '0' && c <= '9') {
          d = c - '0';
        } else if (hex && c >= 'a' && c <= 'f') {
          d = c - 'a' + 10;
        } else if (hex && c >= 'A' && c <= 'F') {
          d = c - 'A' + 10;
        } else {
          return Error("bad character reference");
        }
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
        if (cp > 0x10FFFF) return Error("character reference out of range");
      }
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return Error("invalid character reference");
      AppendUtf8(out, cp);
    } else {
      return Error("unknown entity &" + std::string(ref) + ";");
    }
    i_ = semi + 1;
    return Status::Ok();
  }

  // At '<' of a start tag.
  Status ParseElement(Element& el, int depth) {
    if (depth >= max_depth_) return Error("elements nested too deeply");
    ++i_;
    size_t name_start = i_;
    SKIFF_ASSIGN_OR_RETURN(el.name, Name());
    std::string_view raw_name = s_.substr(name_start, i_ - name_start);
    SKIFF_RETURN_IF_ERROR(Attributes());
    if (StartsWith("/>")) {
      i_ += 2;
      return Status::Ok();
    }
    ++i_;  // '>'
    for (;;) {
      if (i_ >= s_.size()) return Error("unterminated element <" + el.name + ">");
      char c = s_[i_];
      if (c == '&') {
        SKIFF_RETURN_IF_ERROR(Reference(el.text));
      } else if (c != '<') {
        size_t end = s_.find_first_of("<&", i_);
        if (end == std::string_view::npos) end = s_.size();
        el.text.append(s_.substr(i_, end - i_));
        i_ = end;
      } else if (StartsWith("</")) {
        i_ += 2;
        size_t start = i_;
        while (i_ < s_.size() && IsNameChar(s_[i_])) ++i_;
        if (s_.substr(start, i_ - start) != raw_name) {
          return Error("end tag does not match <" + std::string(raw_name) + ">");
        }
        SkipSpace();
        if (!Peek('>')) return Error("expected '>' in an end tag");
        ++i_;
        return Status::Ok();
      } else if (StartsWith("<!--")) {
        SKIFF_RETURN_IF_ERROR(SkipPast("-->", "comment"));
      } else if (StartsWith("<![CDATA[")) {
        size_t start = i_ + 9;
        size_t end = s_.find("]]>", start);
        if (end == std::string_view::npos) return Error("unterminated CDATA section");
        el.text.append(s_.substr(start, end - start));
        i_ = end + 3;
      } else if (StartsWith("<?")) {
        SKIFF_RETURN_IF_ERROR(SkipPast("?>", "processing instruction"));
      } else if (StartsWith("<!")) {
        return Error("declarations are not accepted inside elements");
      } else {
        el.children.emplace_back();
        SKIFF_RETURN_IF_ERROR(ParseElement(el.children.back(), depth + 1));
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  int max_depth_;
};

}  // namespace

Result<Element> Parse(std::string_view document, int max_depth) {
  return Parser(document, max_depth).Document();
}

}  // namespace skiff::http::xml
