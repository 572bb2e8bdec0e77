#ifndef NEXTPRISM_DETAIL_SHA256_HPP
#define NEXTPRISM_DETAIL_SHA256_HPP

// SHA-256 and OpenSSH key fingerprints through OpenSSL's libcrypto (the
// library libssh2 is built on here). Not part of the umbrella header: a
// program that includes this links OpenSSL::Crypto (the validator does).

#include <nextprism/detail/config.hpp>

#include <openssl/evp.h>

#include <array>
#include <string>
#include <string_view>

namespace nextprism::detail {

inline std::array<unsigned char, 32> sha256(std::string_view data)
{
    std::array<unsigned char, 32> digest{};
    unsigned int size = 0;
    EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
    return digest;
}

inline std::string sha256_hex(std::string_view data)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char b : sha256(data)) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

/// An OpenSSH public key ("type base64 [comment]"): its type and the
/// fingerprint as sshd logs it ("SHA256:" + unpadded base64 of the
/// SHA-256 of the key blob); both empty when it does not parse.
struct key_fingerprint
{
    std::string type;
    std::string blob;        ///< base64, as in authorized_keys
    std::string fingerprint; ///< "SHA256:..."
};

inline key_fingerprint fingerprint_of(std::string_view key_line)
{
    key_fingerprint k;
    const auto space = key_line.find(' ');
    if (space == std::string_view::npos)
        return {};
    const auto rest = key_line.substr(space + 1);
    const auto b64 = rest.substr(0, rest.find(' '));
    if (b64.empty() || b64.size() % 4 != 0 || b64.size() > 16384)
        return {};
    std::string raw(b64.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()),
                                  static_cast<int>(b64.size()));
    if (n < 0)
        return {};
    std::size_t size = static_cast<std::size_t>(n);
    for (auto it = b64.rbegin(); it != b64.rend() && *it == '=' && size > 0; ++it)
        --size; // EVP_DecodeBlock counts the padding as zero bytes
    raw.resize(size);
    const auto digest = sha256(raw);
    std::string encoded(44, '\0');
    EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()), digest.data(), 32);
    while (!encoded.empty() && (encoded.back() == '=' || encoded.back() == '\0'))
        encoded.pop_back();
    k.type = std::string(key_line.substr(0, space));
    k.blob = std::string(b64);
    k.fingerprint = "SHA256:" + encoded;
    return k;
}

} // namespace nextprism::detail

#endif
