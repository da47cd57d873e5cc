using System.Buffers.Binary;
using Meridian.Engine.Nts;

namespace Meridian.Engine.Tests.Nts;

public sealed class AesCmacTests
{
    // RFC 4493 §4: the AES-128 key of every example.
    private static readonly byte[] Key = Convert.FromHexString("2b7e151628aed2a6abf7158809cf4f3c");

    private const string Message64 =
        "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";

    [Fact]
    public void Subkeys_match_rfc4493_section_4()
    {
        using var siv = SivWithMacKey(Key);
        Assert.Equal("FBEED618357133667C85E08F7236A8DE", Convert.ToHexString(siv.CmacSubkey1));
        Assert.Equal("F7DDAC306AE266CCF90BC11EE46D513B", Convert.ToHexString(siv.CmacSubkey2));
    }

    [Theory]
    [InlineData(0, "BB1D6929E95937287FA37D129B756746")]
    [InlineData(16, "070A16B46B4D4144F79BDD9DD04A287C")]
    [InlineData(40, "DFA66747DE9AE63030CA32611497C827")]
    [InlineData(64, "51F0BEBF7E3B9D92FC49741779363CFE")]
    public void Cmac_matches_rfc4493_examples(int length, string expected)
    {
        using var siv = SivWithMacKey(Key);
        byte[] message = Convert.FromHexString(Message64)[..length];
        byte[] tag = new byte[16];
        siv.Cmac(message, tag);
        Assert.Equal(expected, Convert.ToHexString(tag));
    }

    [Fact]
    public void Cmac_of_a_long_message_does_not_depend_on_chunking()
    {
        // Longer than the bulk chunk (256 octets), not a whole number of blocks: the chunk boundaries must not show.
        using var siv = SivWithMacKey(Key);
        byte[] message = Enumerable.Range(0, 1000).Select(i => (byte)(i * 7)).ToArray();
        byte[] whole = new byte[16];
        siv.Cmac(message, whole);

        // CBC-MAC by hand, one block at a time, as RFC 4493 §2.4 writes it.
        using var aes = System.Security.Cryptography.Aes.Create();
        aes.Key = Key;
        byte[] x = new byte[16];
        int n = (message.Length + 15) / 16;
        for (int i = 0; i < n - 1; i++)
        {
            for (int j = 0; j < 16; j++)
            {
                x[j] ^= message[(i * 16) + j];
            }

            x = aes.EncryptEcb(x, System.Security.Cryptography.PaddingMode.None);
        }

        byte[] last = new byte[16];
        int rest = message.Length - ((n - 1) * 16);
        message.AsSpan((n - 1) * 16).CopyTo(last);
        last[rest] = 0x80;
        for (int j = 0; j < 16; j++)
        {
            x[j] ^= (byte)(last[j] ^ siv.CmacSubkey2[j]);
        }

        Assert.Equal(Convert.ToHexString(aes.EncryptEcb(x, System.Security.Cryptography.PaddingMode.None)), Convert.ToHexString(whole));
    }

    private static AesSivCmac256 SivWithMacKey(byte[] k1) => new([.. k1, .. new byte[16]]);
}

public sealed class AesSivCmac256Tests
{
    // RFC 5297 Appendix A.1, deterministic.
    private static readonly byte[] A1Key = Convert.FromHexString("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff");
    private static readonly byte[] A1Ad = Convert.FromHexString("101112131415161718191a1b1c1d1e1f2021222324252627");
    private static readonly byte[] A1Plaintext = Convert.FromHexString("112233445566778899aabbccddee");
    private const string A1Output = "85632D07C6E8F37F950ACD320A2ECC9340C02B9690C4DC04DAEF7F6AFE5C";

    // RFC 5297 Appendix A.2, nonce-based, two AD components then the nonce.
    private static readonly byte[] A2Key = Convert.FromHexString("7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f");
    private static readonly byte[] A2Ad1 = Convert.FromHexString("00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100");
    private static readonly byte[] A2Ad2 = Convert.FromHexString("102030405060708090a0");
    private static readonly byte[] A2Nonce = Convert.FromHexString("09f911029d74e35bd84156c5635688c0");
    private static readonly byte[] A2Plaintext = Convert.FromHexString("7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553");
    private const string A2Output =
        "7BDB6E3B432667EB06F4D14BFF2FBD0FCB900F2FDDBE404326601965C889BF17DBA77CEB094FA663B7A3F748BA8AF829EA64AD544A272E9C485B62A3FD5C0D";

    [Fact]
    public void Deterministic_example_matches_rfc5297_a1()
    {
        using var siv = new AesSivCmac256(A1Key);
        byte[] output = new byte[A1Plaintext.Length + 16];
        Assert.Equal(output.Length, siv.Seal([A1Ad], A1Plaintext, output));
        Assert.Equal(A1Output, Convert.ToHexString(output));

        byte[] plaintext = new byte[A1Plaintext.Length];
        Assert.True(siv.TryOpen([A1Ad], output, plaintext, out int written));
        Assert.Equal(A1Plaintext.Length, written);
        Assert.Equal(A1Plaintext, plaintext);
    }

    [Fact]
    public void Nonce_based_example_matches_rfc5297_a2()
    {
        using var siv = new AesSivCmac256(A2Key);
        byte[] output = new byte[A2Plaintext.Length + 16];
        siv.Seal([A2Ad1, A2Ad2, A2Nonce], A2Plaintext, output);
        Assert.Equal(A2Output, Convert.ToHexString(output));

        byte[] plaintext = new byte[A2Plaintext.Length];
        Assert.True(siv.TryOpen([A2Ad1, A2Ad2, A2Nonce], output, plaintext, out _));
        Assert.Equal(A2Plaintext, plaintext);
    }

    [Fact]
    public void The_aead_interface_feeds_s2v_the_associated_data_then_the_nonce()
    {
        // RFC 5297 §6 / RFC 8915 §5.6: Seal(N, A, P) = SIV(K, A, N, P). A.2 with its two AD components joined is not
        // the same input, so check against the explicit-component form instead.
        using var siv = new AesSivCmac256(A2Key);
        byte[] viaInterface = new byte[A2Plaintext.Length + 16];
        byte[] viaComponents = new byte[A2Plaintext.Length + 16];
        siv.Seal(A2Nonce, A2Ad1, A2Plaintext, viaInterface);
        siv.Seal([A2Ad1, A2Nonce], A2Plaintext, viaComponents);
        Assert.Equal(Convert.ToHexString(viaComponents), Convert.ToHexString(viaInterface));

        byte[] swapped = new byte[A2Plaintext.Length + 16];
        siv.Seal([A2Nonce, A2Ad1], A2Plaintext, swapped);
        Assert.NotEqual(Convert.ToHexString(swapped), Convert.ToHexString(viaInterface));
    }

    [Fact]
    public void An_empty_plaintext_round_trips_as_a_bare_tag()
    {
        // An NTS request's Authenticator has nothing to encrypt (RFC 8915 §5.7).
        using var siv = new AesSivCmac256(A2Key);
        byte[] output = new byte[16];
        Assert.Equal(16, siv.Seal(A2Nonce, A2Ad1, [], output));
        Assert.Contains(output, b => b != 0);
        Assert.True(siv.TryOpen(A2Nonce, A2Ad1, output, [], out int written));
        Assert.Equal(0, written);

        // The empty-plaintext path (dbl and pad) is distinct from a zero octet of plaintext.
        byte[] one = new byte[17];
        siv.Seal(A2Nonce, A2Ad1, [0], one);
        Assert.NotEqual(Convert.ToHexString(output), Convert.ToHexString(one[..16]));
    }

    [Fact]
    public void Sealing_and_opening_a_packet_allocates_nothing()
    {
        // The per-packet path (RFC 8915 §5.7): the Aes objects are made once per key, the rest lives on the stack.
        using var siv = new AesSivCmac256(A2Key);
        byte[] ad = new byte[200], plaintext = new byte[100], sealedBytes = new byte[116], opened = new byte[100];
        long allocated = 0;
        for (int i = 0; i < 20; i++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            siv.Seal(A2Nonce, ad, plaintext, sealedBytes);
            Assert.True(siv.TryOpen(A2Nonce, ad, sealedBytes, opened, out _));
            allocated += i < 5 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(0, allocated);
    }

    [Fact]
    public void One_instance_serves_several_threads()
    {
        // A server opens cookies under one master key from every receive thread.
        using var siv = new AesSivCmac256(A2Key);
        byte[] expected = new byte[A2Plaintext.Length + 16];
        siv.Seal([A2Ad1, A2Ad2, A2Nonce], A2Plaintext, expected);
        int wrong = 0;
        Parallel.For(0, 4, _ =>
        {
            byte[] output = new byte[expected.Length], opened = new byte[A2Plaintext.Length];
            for (int i = 0; i < 2000; i++)
            {
                siv.Seal([A2Ad1, A2Ad2, A2Nonce], A2Plaintext, output);
                if (!output.AsSpan().SequenceEqual(expected) || !siv.TryOpen([A2Ad1, A2Ad2, A2Nonce], output, opened, out _) || !opened.AsSpan().SequenceEqual(A2Plaintext))
                {
                    Interlocked.Increment(ref wrong);
                }
            }
        });
        Assert.Equal(0, wrong);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(15)]
    [InlineData(16)]
    [InlineData(17)]
    [InlineData(300)]
    [InlineData(1000)]
    public void Tampering_with_any_octet_fails_to_open(int length)
    {
        using var siv = new AesSivCmac256(A2Key);
        byte[] plaintext = Enumerable.Range(0, length).Select(i => (byte)i).ToArray();
        byte[] sealedBytes = new byte[length + 16];
        siv.Seal(A2Nonce, A2Ad2, plaintext, sealedBytes);
        byte[] opened = new byte[length];
        Assert.True(siv.TryOpen(A2Nonce, A2Ad2, sealedBytes, opened, out _));
        Assert.Equal(plaintext, opened);

        for (int i = 0; i < sealedBytes.Length; i++)
        {
            byte[] forged = (byte[])sealedBytes.Clone();
            forged[i] ^= 0x01;
            Assert.False(siv.TryOpen(A2Nonce, A2Ad2, forged, opened, out int written), $"octet {i}");
            Assert.Equal(0, written);
            Assert.All(opened, b => Assert.Equal(0, b));
        }

        byte[] otherNonce = (byte[])A2Nonce.Clone();
        otherNonce[^1] ^= 0x80;
        Assert.False(siv.TryOpen(otherNonce, A2Ad2, sealedBytes, opened, out _));
        Assert.False(siv.TryOpen(A2Nonce, A2Ad1, sealedBytes, opened, out _));
        Assert.False(siv.TryOpen(A2Nonce, A2Ad2, sealedBytes.AsSpan(0, 15), opened, out _));
    }
}

public sealed class AesGcmSiv128Tests
{
    /// <summary>RFC 8452 Appendix C.1 (AEAD_AES_128_GCM_SIV): key, nonce, AAD, plaintext, result.</summary>
    public static TheoryData<string, string, string, string, string> Vectors => new()
    {
        { "01000000000000000000000000000000", "030000000000000000000000", "", "", "dc20e2d83f25705bb49e439eca56de25" },
        { "01000000000000000000000000000000", "030000000000000000000000", "", "0100000000000000", "b5d839330ac7b786578782fff6013b815b287c22493a364c" },
        { "01000000000000000000000000000000", "030000000000000000000000", "", "010000000000000000000000", "7323ea61d05932260047d942a4978db357391a0bc4fdec8b0d106639" },
        { "01000000000000000000000000000000", "030000000000000000000000", "010000000000000000000000", "02000000", "a8fe3e8707eb1f84fb28f8cb73de8e99e2f48a14" },
        { "01000000000000000000000000000000", "030000000000000000000000", "010000000000000000000000000000000200", "0300000000000000000000000000000004000000", "6bb0fecf5ded9b77f902c7d5da236a4391dd029724afc9805e976f451e6d87f6fe106514" },
        { "e66021d5eb8e4f4066d4adb9c33560e4", "f46e44bb3da0015c94f70887", "", "", "a4194b79071b01a87d65f706e3949578" },
        { "36864200e0eaf5284d884a0e77d31646", "bae8e37fc83441b16034566b", "46bb91c3c5", "7a806c", "af60eb711bd85bc1e4d3e0a462e074eea428a8" },
    };

    [Theory]
    [MemberData(nameof(Vectors))]
    public void Matches_rfc8452_appendix_c1(string key, string nonce, string aad, string plaintext, string result)
    {
        using var aead = new AesGcmSiv128(Convert.FromHexString(key));
        byte[] p = Convert.FromHexString(plaintext), a = Convert.FromHexString(aad), n = Convert.FromHexString(nonce);
        byte[] output = new byte[p.Length + 16];
        Assert.Equal(output.Length, aead.Seal(n, a, p, output));
        Assert.Equal(result, Convert.ToHexString(output), ignoreCase: true);

        byte[] opened = new byte[p.Length];
        Assert.True(aead.TryOpen(n, a, output, opened, out int written));
        Assert.Equal(p.Length, written);
        Assert.Equal(p, opened);

        output[0] ^= 1;
        Assert.False(aead.TryOpen(n, a, output, opened, out _));
    }

    [Fact]
    public void An_empty_plaintext_with_associated_data_round_trips_and_binds_the_data()
    {
        // RFC 8452 has no such vector; NTS requests are exactly this case.
        using var aead = new AesGcmSiv128(Convert.FromHexString("01000000000000000000000000000000"));
        byte[] nonce = Convert.FromHexString("030000000000000000000000"), ad = [1, 2, 3, 4];
        byte[] tag = new byte[16];
        aead.Seal(nonce, ad, [], tag);
        Assert.NotEqual("DC20E2D83F25705BB49E439ECA56DE25", Convert.ToHexString(tag));
        Assert.True(aead.TryOpen(nonce, ad, tag, [], out int written));
        Assert.Equal(0, written);
        Assert.False(aead.TryOpen(nonce, [1, 2, 3, 5], tag, [], out _));
        Assert.False(aead.TryOpen(nonce.AsSpan(0, 11), ad, tag, [], out _));
    }
}

public sealed class NtsAeadFactoryTests
{
    [Theory]
    [InlineData(NtsAeadId.AesSivCmac256, 32, 16, 16)]
    [InlineData(NtsAeadId.AesGcmSiv128, 16, 12, 16)]
    public void Known_ids_give_keyed_instances(ushort id, int keyLength, int nonceLength, int overhead)
    {
        byte[] key = Enumerable.Range(1, keyLength).Select(i => (byte)i).ToArray();
        using INtsAead? aead = NtsAead.Create(id, key);
        Assert.NotNull(aead);
        Assert.Equal(id, aead.AeadId);
        Assert.Equal(keyLength, aead.KeyLength);
        Assert.Equal(keyLength, NtsAead.KeyLength(id));
        Assert.Equal(nonceLength, aead.NonceLength);
        Assert.Equal(overhead, aead.Overhead);

        byte[] nonce = new byte[aead.NonceLength], ad = [0x23, 0, 0, 0], plaintext = [9, 8, 7];
        byte[] output = new byte[plaintext.Length + aead.Overhead];
        aead.Seal(nonce, ad, plaintext, output);
        byte[] opened = new byte[3];
        Assert.True(aead.TryOpen(nonce, ad, output, opened, out _));
        Assert.Equal(plaintext, opened);
    }

    [Theory]
    [InlineData((ushort)0)]
    [InlineData((ushort)1)]
    [InlineData((ushort)16)]
    [InlineData((ushort)31)]
    public void Unknown_ids_give_null(ushort id)
    {
        Assert.Null(NtsAead.Create(id, new byte[32]));
        Assert.Null(NtsAead.KeyLength(id));
        Assert.False(NtsAead.IsSupported(id));
    }
}

public sealed class Aes128Tests
{
    [Fact]
    public void Matches_fips197_appendix_c1()
    {
        using var aes = new Aes128(Convert.FromHexString("000102030405060708090a0b0c0d0e0f"));
        byte[] block = Convert.FromHexString("00112233445566778899aabbccddeeff");
        aes.Encrypt(block, block);
        Assert.Equal("69C4E0D86A7B0430D8CDB78070B4C55A", Convert.ToHexString(block));
    }

    [Fact]
    public void Matches_the_platform_aes_across_rekeys_and_many_blocks()
    {
        var random = new Random(3);
        using var aes = new Aes128(new byte[16]);
        for (int trial = 0; trial < 20; trial++)
        {
            byte[] key = new byte[16], input = new byte[16 * (1 + trial * 3)];
            random.NextBytes(key);
            random.NextBytes(input);
            aes.SetKey(key);
            byte[] ours = new byte[input.Length];
            aes.Encrypt(input, ours);
            using var platform = System.Security.Cryptography.Aes.Create();
            platform.Key = key;
            Assert.Equal(platform.EncryptEcb(input, System.Security.Cryptography.PaddingMode.None), ours);
        }
    }

    [Fact]
    public void Rekeying_allocates_nothing_with_aes_instructions()
    {
        using var siv = new AesSivCmac256(new byte[32]);
        using var gcmSiv = new AesGcmSiv128(new byte[16]);
        byte[] sivKey = new byte[32], gcmKey = new byte[16], nonce = new byte[12], ad = new byte[100], plaintext = new byte[80], output = new byte[96];
        long allocated = 0;
        for (int i = 0; i < 50; i++)
        {
            sivKey[0] = gcmKey[0] = (byte)i;
            long before = GC.GetAllocatedBytesForCurrentThread();
            siv.Rekey(sivKey);
            siv.Seal(nonce, ad, plaintext, output);
            gcmSiv.Rekey(gcmKey);
            gcmSiv.Seal(nonce, ad, plaintext, output);
            Assert.True(gcmSiv.TryOpen(nonce, ad, output, plaintext, out _));
            allocated += i < 10 ? 0 : GC.GetAllocatedBytesForCurrentThread() - before;
        }

        Assert.Equal(Aes128.Accelerated, allocated == 0);
    }

    [Fact]
    public void A_rekeyed_instance_seals_as_a_fresh_one_and_a_forgotten_one_opens_nothing()
    {
        byte[] k1 = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray(), k2 = Enumerable.Range(100, 32).Select(i => (byte)i).ToArray();
        byte[] nonce = new byte[16], ad = [1, 2, 3], plaintext = new byte[40];
        using var reused = new AesSivCmac256(k1);
        reused.Rekey(k2);
        using var fresh = new AesSivCmac256(k2);
        byte[] a = new byte[56], b = new byte[56];
        reused.Seal(nonce, ad, plaintext, a);
        fresh.Seal(nonce, ad, plaintext, b);
        Assert.Equal(b, a);
        if (Aes128.Accelerated)
        {
            // Forgotten round keys are zeros: the session key is gone, so its messages no longer open.
            reused.Forget();
            Assert.False(reused.TryOpen(nonce, ad, a, new byte[40], out _));
        }

        using var reusedGcm = new AesGcmSiv128(k1[..16]);
        reusedGcm.Rekey(k2[..16]);
        using var freshGcm = new AesGcmSiv128(k2[..16]);
        reusedGcm.Seal(nonce[..12], ad, plaintext, a);
        freshGcm.Seal(nonce[..12], ad, plaintext, b);
        Assert.Equal(b, a);
    }
}

public sealed class PolyvalTests
{
    [Fact]
    public void Matches_rfc8452_appendix_a()
    {
        // RFC 8452 Appendix A: POLYVAL(H, X_1, X_2) with H = 25629347589242761d31f826ba4b757b.
        UInt128 h = BinaryPrimitives.ReadUInt128LittleEndian(Convert.FromHexString("25629347589242761d31f826ba4b757b"));
        byte[] x = Convert.FromHexString("4f4f95668c83dfb6401762bb2d01a262d1a24ddd2721d006bbe45f20d3c9f362");
        Assert.Equal("F7A3B47B846119FAE5B7866CF5E5B77E", Hex(Polyval.Absorb(h, UInt128.Zero, x)));
    }

    [Fact]
    public void Carry_less_multiply_and_the_portable_loop_agree()
    {
        var random = new Random(5);
        byte[] bytes = new byte[32];
        for (int i = 0; i < 200; i++)
        {
            random.NextBytes(bytes);
            UInt128 a = BinaryPrimitives.ReadUInt128LittleEndian(bytes), b = BinaryPrimitives.ReadUInt128LittleEndian(bytes.AsSpan(16));
            UInt128 portable = Polyval.DotPortable(a, b);
            Assert.Equal(portable, Polyval.DotPortable(b, a));
            if (System.Runtime.Intrinsics.X86.Pclmulqdq.IsSupported)
            {
                Assert.Equal(portable, Polyval.DotClmul(a, b));
            }
        }
    }

    private static string Hex(UInt128 value)
    {
        byte[] bytes = new byte[16];
        BinaryPrimitives.WriteUInt128LittleEndian(bytes, value);
        return Convert.ToHexString(bytes);
    }
}
