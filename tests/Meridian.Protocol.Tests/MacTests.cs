using Meridian.Protocol;

namespace Meridian.Protocol.Tests;

public sealed class MacTests
{
    // RFC 4493 §4: AES-CMAC test vectors.
    private static readonly byte[] Key = Convert.FromHexString("2b7e151628aed2a6abf7158809cf4f3c");
    private static readonly byte[] Message = Convert.FromHexString("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710");

    [Theory]
    [InlineData(0, "bb1d6929e95937287fa37d129b756746")]
    [InlineData(16, "070a16b46b4d4144f79bdd9dd04a287c")]
    [InlineData(40, "dfa66747de9ae63030ca32611497c827")]
    [InlineData(64, "51f0bebf7e3b9d92fc49741779363cfe")]
    public void Aes_cmac_matches_rfc_4493(int length, string expected) =>
        Assert.Equal(expected, Convert.ToHexStringLower(Mac.AesCmac(Key, Message.AsSpan(0, length))));

    [Fact]
    public void Legacy_digests_are_of_key_then_message_and_truncated_to_20_octets()
    {
        byte[] key = "NoSecret"u8.ToArray();
        byte[] message = "message"u8.ToArray();
        Assert.Equal(System.Security.Cryptography.MD5.HashData([.. key, .. message]), Mac.Compute(MacAlgorithm.Md5, key, message));
        Assert.Equal(System.Security.Cryptography.SHA1.HashData([.. key, .. message]), Mac.Compute(MacAlgorithm.Sha1, key, message));
        Assert.Equal(System.Security.Cryptography.SHA256.HashData([.. key, .. message])[..20], Mac.Compute(MacAlgorithm.Sha256, key, message));
        Assert.True(Mac.Verify(MacAlgorithm.Sha1, key, message, Mac.Compute(MacAlgorithm.Sha1, key, message)));
        Assert.False(Mac.Verify(MacAlgorithm.Sha1, "NoSecreT"u8, message, Mac.Compute(MacAlgorithm.Sha1, key, message)));
    }
}
