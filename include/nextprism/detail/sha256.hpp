#ifndef NEXTPRISM_DETAIL_SHA256_HPP
#define NEXTPRISM_DETAIL_SHA256_HPP

// SHA-256 (FIPS 180-4) and OpenSSH key fingerprints, self-contained. The
// validator hashes what it audits (at most a few KiB per run): its own
// code here keeps libcrypto, its loading, CPU probing and configuration
// file off the validator's start-up. Not part of the umbrella header.

#include <nextprism/detail/config.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace nextprism::detail {

/// Incremental SHA-256: update() any number of times, then digest() once.
class sha256_hasher
{
public:
    void update(const void* data, std::size_t size) noexcept
    {
        const auto* p = static_cast<const unsigned char*>(data);
        length_ += size;
        if (used_ > 0) {
            const std::size_t take = std::min(size, block_.size() - used_);
            std::memcpy(block_.data() + used_, p, take);
            used_ += take;
            p += take;
            size -= take;
            if (used_ < block_.size())
                return;
            compress(block_.data());
            used_ = 0;
        }
        for (; size >= 64; p += 64, size -= 64)
            compress(p);
        std::memcpy(block_.data(), p, size);
        used_ = size;
    }

    void update(std::string_view s) noexcept { update(s.data(), s.size()); }

    std::array<unsigned char, 32> digest() noexcept
    {
        // Padding (5.1.1): a 1 bit, zeros to 56 mod 64, the length in bits.
        const std::uint64_t bits = length_ * 8;
        block_[used_++] = 0x80;
        if (used_ > 56) {
            std::memset(block_.data() + used_, 0, 64 - used_);
            compress(block_.data());
            used_ = 0;
        }
        std::memset(block_.data() + used_, 0, 56 - used_);
        for (int i = 0; i < 8; ++i)
            block_[56 + i] = static_cast<unsigned char>(bits >> (56 - 8 * i));
        compress(block_.data());
        std::array<unsigned char, 32> out{};
        for (int i = 0; i < 8; ++i)
            for (int j = 0; j < 4; ++j)
                out[4 * i + j] = static_cast<unsigned char>(h_[i] >> (24 - 8 * j));
        return out;
    }

private:
    static constexpr std::uint32_t rotr(std::uint32_t x, int n) noexcept { return (x >> n) | (x << (32 - n)); }

    void compress(const unsigned char* p) noexcept
    {
        // The first 32 bits of the fractional parts of the cube roots of the
        // first 64 primes (4.2.2).
        static constexpr std::uint32_t k[64] = {
            0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
            0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
            0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
            0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
            0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
            0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
            0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
            0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
        std::uint32_t w[64];
        for (int t = 0; t < 16; ++t)
            w[t] = std::uint32_t(p[4 * t]) << 24 | std::uint32_t(p[4 * t + 1]) << 16 |
                   std::uint32_t(p[4 * t + 2]) << 8 | std::uint32_t(p[4 * t + 3]);
        for (int t = 16; t < 64; ++t) {
            const auto s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            const auto s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
        for (int t = 0; t < 64; ++t) {
            const auto t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + k[t] + w[t];
            const auto t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e, h_[5] += f, h_[6] += g, h_[7] += h;
    }

    // Initial hash value (5.3.3): square roots of the first 8 primes.
    std::uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                           0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    std::array<unsigned char, 64> block_{};
    std::size_t used_ = 0;
    std::uint64_t length_ = 0;
};

inline std::array<unsigned char, 32> sha256(std::string_view data) noexcept
{
    sha256_hasher h;
    h.update(data);
    return h.digest();
}

inline std::string sha256_hex(std::string_view data)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (const unsigned char b : sha256(data)) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

/// Standard base64 (RFC 4648 section 4) without padding, as OpenSSH
/// prints fingerprints.
inline std::string base64_unpadded(const unsigned char* data, std::size_t size)
{
    static constexpr char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    for (std::size_t i = 0; i < size; i += 3) {
        std::uint32_t v = std::uint32_t(data[i]) << 16;
        if (i + 1 < size)
            v |= std::uint32_t(data[i + 1]) << 8;
        if (i + 2 < size)
            v |= data[i + 2];
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        if (i + 1 < size)
            out += table[(v >> 6) & 63];
        if (i + 2 < size)
            out += table[v & 63];
    }
    return out;
}

/// Decodes padded standard base64 (length a multiple of 4, '=' only at the
/// end, at most two); nullopt for anything else.
inline std::optional<std::string> base64_decode(std::string_view text)
{
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    if (text.size() % 4 != 0)
        return std::nullopt;
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=')
        pad = text.size() >= 2 && text[text.size() - 2] == '=' ? 2 : 1;
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t i = 0; i < text.size(); i += 4) {
        const bool last = i + 4 == text.size();
        std::uint32_t v = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const char c = text[i + j];
            int d = 0;
            if (last && j >= 4 - pad) {
                if (c != '=')
                    return std::nullopt;
            } else if ((d = value(c)) < 0) {
                return std::nullopt;
            }
            v = v << 6 | static_cast<std::uint32_t>(d);
        }
        out += static_cast<char>(v >> 16);
        if (!last || pad < 2)
            out += static_cast<char>((v >> 8) & 0xff);
        if (!last || pad < 1)
            out += static_cast<char>(v & 0xff);
    }
    return out;
}

/// An OpenSSH public key ("type base64 [comment]"): its type and the
/// fingerprint as sshd logs it ("SHA256:" + unpadded base64 of the
/// SHA-256 of the key blob); all empty when it does not parse.
struct key_fingerprint
{
    std::string type;
    std::string blob;        ///< base64, as in authorized_keys
    std::string fingerprint; ///< "SHA256:..."
};

inline key_fingerprint fingerprint_of(std::string_view key_line)
{
    const auto space = key_line.find(' ');
    if (space == std::string_view::npos)
        return {};
    const auto rest = key_line.substr(space + 1);
    const auto b64 = rest.substr(0, rest.find(' '));
    if (b64.empty() || b64.size() > 16384)
        return {};
    const auto raw = base64_decode(b64);
    if (!raw)
        return {};
    const auto digest = sha256(*raw);
    key_fingerprint k;
    k.type = std::string(key_line.substr(0, space));
    k.blob = std::string(b64);
    k.fingerprint = "SHA256:" + base64_unpadded(digest.data(), digest.size());
    return k;
}

} // namespace nextprism::detail

#endif
