using Meridian.Protocol.Nts;

namespace Meridian.Protocol.Tests.Nts;

public sealed class NtsFieldsTests
{
    private static readonly byte[] UniqueId = Enumerable.Range(0x10, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] CookieBytes = Enumerable.Range(0, 100).Select(i => (byte)(0xA0 + i % 16)).ToArray();
    private static readonly byte[] NonceBytes = Enumerable.Range(0x50, 16).Select(i => (byte)i).ToArray();
    private static readonly byte[] Tag = Enumerable.Range(0xE0, 16).Select(i => (byte)i).ToArray();

    private static byte[] Header(NtpMode mode = NtpMode.Client, byte stratum = 0, ReferenceId referenceId = default)
    {
        var header = new byte[NtpHeader.Size];
        new NtpHeader { Version = 4, Mode = mode, Stratum = stratum, ReferenceId = referenceId, TransmitTimestamp = new NtpTimestamp(0xE5B8C3A1_7C6F2B1A) }.Write(header);
        return header;
    }

    /// <summary>Header, Unique Identifier (32), Cookie (100), two placeholders, authenticator (16-octet nonce, 16-octet tag).</summary>
    private static byte[] ClientRequest()
    {
        var packet = new byte[1024];
        Header().CopyTo(packet, 0);
        int length = NtpHeader.Size;
        length += NtsFieldWriter.WriteUniqueIdentifier(packet.AsSpan(length), UniqueId);
        length += NtsFieldWriter.WriteCookie(packet.AsSpan(length), CookieBytes);
        length += NtsFieldWriter.WriteCookiePlaceholder(packet.AsSpan(length), CookieBytes.Length);
        length += NtsFieldWriter.WriteCookiePlaceholder(packet.AsSpan(length), CookieBytes.Length);
        length += NtsFieldWriter.WriteAuthenticator(packet.AsSpan(length), NonceBytes, Tag);
        return packet[..length];
    }

    [Fact]
    public void A_client_request_has_exact_field_octets()
    {
        byte[] packet = ClientRequest();
        string expected = Convert.ToHexString(Header())
            + "01040024" + Convert.ToHexString(UniqueId)
            + "02040068" + Convert.ToHexString(CookieBytes)
            + "03040068" + new string('0', 200)
            + "03040068" + new string('0', 200)
            + "04040028" + "0010" + "0010" + Convert.ToHexString(NonceBytes) + Convert.ToHexString(Tag);
        Assert.Equal(expected, Convert.ToHexString(packet));
        Assert.Equal(48 + 36 + 104 + 104 + 104 + 40, packet.Length);
    }

    [Fact]
    public void A_client_request_reads_back()
    {
        byte[] packet = ClientRequest();
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(packet, out NtsFields fields));
        Assert.Equal(UniqueId, fields.UniqueIdentifier.ToArray());
        Assert.Equal(CookieBytes, fields.Cookie.ToArray());
        Assert.Equal(2, fields.PlaceholderCount);
        Assert.True(fields.PlaceholdersMatchCookie);
        Assert.True(fields.HasAuthenticator);
        Assert.Equal(396, fields.AuthenticatorOffset);
        Assert.Equal(packet[..396], fields.AssociatedData.ToArray());
        Assert.Equal(NonceBytes, fields.Nonce.ToArray());
        Assert.Equal(Tag, fields.Ciphertext.ToArray());
        Assert.Equal(0, fields.FieldsAfterAuthenticator);

        // The general packet parser agrees: all fields, no MAC.
        Assert.Equal(PacketStatus.Ok, NtpPacket.TryParse(packet, out NtpPacket parsed));
        Assert.True(parsed.Mac.IsEmpty);
        var types = new List<ushort>();
        foreach (ExtensionField field in fields.EnumerateFields())
        {
            types.Add(field.Type);
        }

        Assert.Equal(new ushort[] { 0x0104, 0x0204, 0x0304, 0x0304, 0x0404 }, types);
    }

    [Fact]
    public void A_packet_without_nts_fields_reads_as_empty()
    {
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(Header(), out NtsFields fields));
        Assert.False(fields.HasAuthenticator);
        Assert.Equal(-1, fields.AuthenticatorOffset);
        Assert.True(fields.UniqueIdentifier.IsEmpty);
        Assert.True(fields.Cookie.IsEmpty);
        Assert.True(fields.AssociatedData.IsEmpty);
        Assert.Equal(NtsFieldStatus.TooShort, NtsFields.TryRead(Header().AsSpan(0, 47), out _));
    }

    [Theory]
    [InlineData(1, "02040010010000000000000000000000")]
    [InlineData(5, "02040010010203040500000000000000")]
    [InlineData(12, "020400100102030405060708090A0B0C")]
    [InlineData(13, "020400140102030405060708090A0B0C0D000000")]
    [InlineData(16, "020400140102030405060708090A0B0C0D0E0F10")]
    public void Cookies_are_padded_to_four_and_to_sixteen(int length, string hex)
    {
        byte[] cookie = Enumerable.Range(1, length).Select(i => (byte)i).ToArray();
        var field = new byte[32];
        int written = NtsFieldWriter.WriteCookie(field, cookie);
        Assert.Equal(hex, Convert.ToHexString(field[..written]));
        Assert.Equal(NtsFieldWriter.FieldLength(length), written);
    }

    [Theory]
    [InlineData(1, "03040010000000000000000000000000")]
    [InlineData(13, "0304001400000000000000000000000000000000")]
    public void Placeholders_are_zero_bodies_as_long_as_the_padded_cookie(int cookieLength, string hex)
    {
        var field = new byte[32];
        Array.Fill(field, (byte)0xFF);
        int written = NtsFieldWriter.WriteCookiePlaceholder(field, cookieLength);
        Assert.Equal(hex, Convert.ToHexString(field[..written]));
        Assert.Equal(0xFF, field[written]);
    }

    [Theory]
    // 12-octet nonce (already aligned) and 17-octet ciphertext padded to 20.
    [InlineData(12, 17, 0, "04040028000C0011" + "0C0C0C0C0C0C0C0C0C0C0C0C" + "1111111111111111111111111111111111" + "000000")]
    // 13-octet nonce padded to 16, 16-octet ciphertext.
    [InlineData(13, 16, 0, "04040028000D0010" + "0D0D0D0D0D0D0D0D0D0D0D0D0D" + "000000" + "10101010101010101010101010101010")]
    // Empty nonce and ciphertext: the field is still 16 octets.
    [InlineData(0, 0, 0, "04040010000000000000000000000000")]
    // Additional padding after the ciphertext.
    [InlineData(4, 4, 8, "0404001800040004" + "04040404" + "04040404" + "0000000000000000")]
    public void Authenticators_pad_nonce_and_ciphertext_separately(int nonceLength, int ciphertextLength, int padding, string hex)
    {
        byte[] nonce = Enumerable.Repeat((byte)nonceLength, nonceLength).ToArray();
        byte[] ciphertext = Enumerable.Repeat((byte)ciphertextLength, ciphertextLength).ToArray();
        var field = new byte[64];
        Array.Fill(field, (byte)0xFF);
        int written = NtsFieldWriter.WriteAuthenticator(field, nonce, ciphertext, padding);
        Assert.Equal(hex, Convert.ToHexString(field[..written]));
        Assert.Equal(NtsFieldWriter.AuthenticatorLength(nonceLength, ciphertextLength, padding), written);

        byte[] packet = [.. Header(), .. field[..written]];
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(packet, out NtsFields fields));
        Assert.Equal(nonce, fields.Nonce.ToArray());
        Assert.Equal(ciphertext, fields.Ciphertext.ToArray());
        Assert.Equal(NtpHeader.Size, fields.AuthenticatorOffset);
    }

    [Fact]
    public void The_ciphertext_slot_is_where_the_aead_writes_in_place()
    {
        var packet = new byte[NtpHeader.Size + 40];
        int written = NtsFieldWriter.WriteAuthenticator(packet.AsSpan(NtpHeader.Size), NonceBytes, 16, out Span<byte> slot);
        Tag.CopyTo(slot);
        Assert.Equal(40, written);
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(packet, out NtsFields fields));
        Assert.Equal(Tag, fields.Ciphertext.ToArray());
    }

    [Fact]
    public void Writers_refuse_short_identifiers_and_small_buffers()
    {
        Assert.Throws<ArgumentException>(() => NtsFieldWriter.WriteUniqueIdentifier(new byte[64], new byte[31]));
        Assert.Throws<ArgumentException>(() => NtsFieldWriter.WriteCookie(new byte[103], CookieBytes));
        Assert.Throws<ArgumentException>(() => NtsFieldWriter.WriteCookiePlaceholder(new byte[103], 100));
        Assert.Throws<ArgumentException>(() => NtsFieldWriter.WriteAuthenticator(new byte[39], NonceBytes, Tag));
    }

    [Fact]
    public void A_truncated_field_is_reported()
    {
        byte[] packet = ClientRequest();
        for (int cut = NtpHeader.Size + 1; cut < packet.Length; cut++)
        {
            NtsFieldStatus status = NtsFields.TryRead(packet.AsSpan(0, cut), out _);
            bool atBoundary = cut is 84 or 188 or 292 or 396;
            if (atBoundary)
            {
                Assert.Equal(NtsFieldStatus.Ok, status);
            }
            else
            {
                Assert.True(status is NtsFieldStatus.TruncatedField or NtsFieldStatus.BadFieldLength, $"cut {cut}: {status}");
            }
        }

        Assert.Equal(NtsFieldStatus.TruncatedField, NtsFields.TryRead(packet.AsSpan(0, 100), out _));
        Assert.Equal(NtsFieldStatus.BadFieldLength, NtsFields.TryRead(packet.AsSpan(0, 50), out _));
    }

    [Theory]
    [InlineData("0104000C" + "0000000000000000")]
    [InlineData("01040012" + "0000000000000000000000000000")]
    [InlineData("01040000")]
    public void Lengths_below_sixteen_or_not_multiples_of_four_are_malformed(string hex)
    {
        Assert.Equal(NtsFieldStatus.BadFieldLength, NtsFields.TryRead([.. Header(), .. Convert.FromHexString(hex)], out _));
    }

    [Theory]
    // Ciphertext length 32 in a 40-octet field that has room for 16.
    [InlineData("0404002800100020" + "0000000000000000000000000000000000000000000000000000000000000000")]
    // Nonce length 0xFFFF.
    [InlineData("04040010FFFF0000" + "0000000000000000")]
    // Nonce 13 padded to 16 leaves no room for 4 octets of ciphertext in 20.
    [InlineData("04040018000D0004" + "00000000000000000000000000000000")]
    public void An_authenticator_whose_lengths_exceed_the_field_is_malformed(string hex)
    {
        Assert.Equal(NtsFieldStatus.BadAuthenticator, NtsFields.TryRead([.. Header(), .. Convert.FromHexString(hex)], out _));
    }

    [Fact]
    public void Duplicates_short_identifiers_and_mismatched_placeholders_are_reported()
    {
        var buffer = new byte[512];
        byte[] Packet(Func<Span<byte>, int> fields)
        {
            Header().CopyTo(buffer, 0);
            return buffer[..(NtpHeader.Size + fields(buffer.AsSpan(NtpHeader.Size)))];
        }

        byte[] twoCookies = Packet(s => NtsFieldWriter.WriteCookie(s, CookieBytes) + NtsFieldWriter.WriteCookie(s[104..], CookieBytes));
        Assert.Equal(NtsFieldStatus.DuplicateField, NtsFields.TryRead(twoCookies, out _));

        byte[] twoIds = Packet(s => NtsFieldWriter.WriteUniqueIdentifier(s, UniqueId) + NtsFieldWriter.WriteUniqueIdentifier(s[36..], UniqueId));
        Assert.Equal(NtsFieldStatus.DuplicateField, NtsFields.TryRead(twoIds, out _));

        byte[] shortId = Packet(s => ExtensionFieldWriter.Write(s, NtsFieldType.UniqueIdentifier, new byte[28]));
        Assert.Equal(NtsFieldStatus.ShortUniqueIdentifier, NtsFields.TryRead(shortId, out _));

        byte[] mismatch = Packet(s => NtsFieldWriter.WriteCookiePlaceholder(s, 96) + NtsFieldWriter.WriteCookie(s[100..], CookieBytes));
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead(mismatch, out NtsFields fields));
        Assert.Equal(1, fields.PlaceholderCount);
        Assert.False(fields.PlaceholdersMatchCookie);
    }

    [Fact]
    public void Fields_after_the_authenticator_are_counted_not_read()
    {
        byte[] request = ClientRequest();
        var extra = new byte[36 + 36];
        NtsFieldWriter.WriteUniqueIdentifier(extra, new byte[32]);
        ExtensionFieldWriter.Write(extra.AsSpan(36), 0x2005, new byte[32]);
        Assert.Equal(NtsFieldStatus.Ok, NtsFields.TryRead([.. request, .. extra], out NtsFields fields));
        Assert.Equal(2, fields.FieldsAfterAuthenticator);
        Assert.Equal(UniqueId, fields.UniqueIdentifier.ToArray());
        Assert.Equal(396, fields.AuthenticatorOffset);
        Assert.Equal(NtsFieldStatus.DuplicateField, NtsFields.TryRead([.. request, .. request[396..]], out _));
    }

    [Fact]
    public void The_reply_plaintext_yields_the_new_cookies()
    {
        byte[] second = CookieBytes.Select(b => (byte)~b).ToArray();
        var plaintext = new byte[104 + 20 + 104];
        int length = NtsFieldWriter.WriteCookie(plaintext, CookieBytes);
        length += ExtensionFieldWriter.Write(plaintext.AsSpan(length), 0x7777, new byte[16]);
        length += NtsFieldWriter.WriteCookie(plaintext.AsSpan(length), second);
        Assert.Equal(plaintext.Length, length);

        Assert.Equal(NtsFieldStatus.Ok, NtsPlaintext.TryRead(plaintext, out NtsPlaintext decrypted));
        Assert.Equal(2, decrypted.CookieCount);
        var cookies = new List<byte[]>();
        foreach (ReadOnlySpan<byte> cookie in decrypted.EnumerateCookies())
        {
            cookies.Add(cookie.ToArray());
        }

        Assert.Equal(new[] { CookieBytes, second }, cookies);
        Assert.Equal(NtsFieldStatus.Ok, NtsPlaintext.TryRead([], out decrypted));
        Assert.Equal(0, decrypted.CookieCount);
        Assert.Equal(NtsFieldStatus.TruncatedField, NtsPlaintext.TryRead(plaintext.AsSpan(0, 200), out _));
        Assert.Equal(NtsFieldStatus.BadFieldLength, NtsPlaintext.TryRead(plaintext.AsSpan(0, 106), out _));
    }

    [Fact]
    public void An_nts_nak_is_a_kiss_with_code_ntsn()
    {
        Assert.Equal("NTSN", NtsNak.Code.ToAscii());
        Assert.True(NtpHeader.TryRead(Header(NtpMode.Server, 0, KissCode.Ntsn), out NtpHeader nak));
        Assert.True(NtsNak.IsNak(nak));
        Assert.True(NtpHeader.TryRead(Header(NtpMode.Server, 1, KissCode.Ntsn), out NtpHeader notKiss));
        Assert.False(NtsNak.IsNak(notKiss));
        Assert.True(NtpHeader.TryRead(Header(NtpMode.Server, 0, KissCode.Rate), out NtpHeader rate));
        Assert.False(NtsNak.IsNak(rate));
    }
}
