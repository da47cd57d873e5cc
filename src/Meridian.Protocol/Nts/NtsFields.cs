using System.Buffers.Binary;

namespace Meridian.Protocol.Nts;

/// <summary>NTS extension field types for NTPv4 (RFC 8915 §5.7, IANA "NTP Extension Field Types").</summary>
public static class NtsFieldType
{
    public const ushort UniqueIdentifier = 0x0104;
    public const ushort Cookie = 0x0204;
    public const ushort CookiePlaceholder = 0x0304;
    public const ushort Authenticator = 0x0404;
}

/// <summary>The NTS negative acknowledgement (RFC 8915 §5.7): a kiss-o'-death whose code is NTSN.</summary>
public static class NtsNak
{
    public static ReferenceId Code => KissCode.Ntsn;

    /// <summary>
    /// True for a kiss with code NTSN: the server could not use the cookie or verify the authenticator. A NAK is not
    /// authenticated, so the client acts on it only when it echoes the request's Unique Identifier (RFC 8915 §5.7).
    /// </summary>
    public static bool IsNak(in NtpHeader header) => KissCode.IsKissOfDeath(header) && header.ReferenceId == KissCode.Ntsn;
}

/// <summary>
/// Writes NTS extension fields into a packet buffer. Each returns the octets written; bodies are zero-padded to a
/// multiple of four and to the 16-octet minimum (RFC 7822 §3). A buffer too small is a caller bug and throws.
/// </summary>
public static class NtsFieldWriter
{
    /// <summary>RFC 8915 §5.3: at least 32 octets of random data.</summary>
    public const int MinUniqueIdentifierLength = 32;

    /// <summary>
    /// RFC 7822 §7.5: without a MAC, the last field must be longer than the longest MAC (24), or it could be taken for
    /// one; 28 is the shortest length that passes. An authenticator with a 16-octet nonce and tag is 40.
    /// </summary>
    public const int MinLastFieldLength = 28;

    public static int FieldLength(int bodyLength) => Math.Max(NtpPacket.MinExtensionFieldLength, (4 + bodyLength + 3) & ~3);

    public static int WriteUniqueIdentifier(Span<byte> destination, ReadOnlySpan<byte> identifier)
    {
        if (identifier.Length < MinUniqueIdentifierLength)
        {
            throw new ArgumentException("A Unique Identifier is at least 32 octets (RFC 8915 §5.3).", nameof(identifier));
        }

        return ExtensionFieldWriter.Write(destination, NtsFieldType.UniqueIdentifier, identifier);
    }

    /// <summary>A cookie not a multiple of four octets is padded, and the receiver sees the padding as part of it.</summary>
    public static int WriteCookie(Span<byte> destination, ReadOnlySpan<byte> cookie) =>
        ExtensionFieldWriter.Write(destination, NtsFieldType.Cookie, cookie);

    /// <summary>RFC 8915 §5.5: a body as long as the cookie's, contents ignored (zeros here).</summary>
    public static int WriteCookiePlaceholder(Span<byte> destination, int cookieLength)
    {
        int length = FieldLength(cookieLength);
        if (length > ushort.MaxValue || destination.Length < length)
        {
            throw new ArgumentException("The extension field does not fit.", nameof(destination));
        }

        BinaryPrimitives.WriteUInt16BigEndian(destination, NtsFieldType.CookiePlaceholder);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        destination[4..length].Clear();
        return length;
    }

    /// <summary>Field length of an authenticator (RFC 8915 §5.6): lengths, nonce and ciphertext each padded to four, extra padding.</summary>
    public static int AuthenticatorLength(int nonceLength, int ciphertextLength, int additionalPadding = 0) =>
        Math.Max(NtpPacket.MinExtensionFieldLength, 8 + Pad4(nonceLength) + Pad4(ciphertextLength) + Pad4(additionalPadding));

    /// <summary>
    /// Writes the authenticator's header and nonce and reserves its ciphertext, so the AEAD can encrypt straight into
    /// the packet: the associated data is everything before <paramref name="destination"/>. Returns the field length.
    /// </summary>
    public static int WriteAuthenticator(Span<byte> destination, ReadOnlySpan<byte> nonce, int ciphertextLength, out Span<byte> ciphertext, int additionalPadding = 0)
    {
        int length = AuthenticatorLength(nonce.Length, ciphertextLength, additionalPadding);
        if (length > ushort.MaxValue || destination.Length < length || ciphertextLength < 0 || additionalPadding < 0)
        {
            throw new ArgumentException("The authenticator does not fit.", nameof(destination));
        }

        destination[..length].Clear();
        BinaryPrimitives.WriteUInt16BigEndian(destination, NtsFieldType.Authenticator);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)nonce.Length);
        BinaryPrimitives.WriteUInt16BigEndian(destination[6..], (ushort)ciphertextLength);
        nonce.CopyTo(destination[8..]);
        ciphertext = destination.Slice(8 + Pad4(nonce.Length), ciphertextLength);
        return length;
    }

    /// <summary>Writes a whole authenticator when the ciphertext is already computed.</summary>
    public static int WriteAuthenticator(Span<byte> destination, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, int additionalPadding = 0)
    {
        int length = WriteAuthenticator(destination, nonce, ciphertext.Length, out Span<byte> slot, additionalPadding);
        ciphertext.CopyTo(slot);
        return length;
    }

    internal static int Pad4(int length) => (length + 3) & ~3;
}

/// <summary>Why a packet's NTS fields could not be read.</summary>
public enum NtsFieldStatus
{
    Ok,

    /// <summary>Fewer than 48 octets: no NTP header.</summary>
    TooShort,

    /// <summary>A field with a length below 16 or not a multiple of four (RFC 7822 §3), or fewer than four octets left.</summary>
    BadFieldLength,

    /// <summary>A field whose length runs past the end of the packet.</summary>
    TruncatedField,

    /// <summary>An authenticator whose nonce and ciphertext lengths do not fit in its body (RFC 8915 §5.6).</summary>
    BadAuthenticator,

    /// <summary>A second Unique Identifier, Cookie or Authenticator (RFC 8915 §5.7: each appears once).</summary>
    DuplicateField,

    /// <summary>A Unique Identifier shorter than 32 octets (RFC 8915 §5.3).</summary>
    ShortUniqueIdentifier,
}

/// <summary>
/// The NTS fields of an NTPv4 packet, as views into it: Unique Identifier, Cookie, placeholders, and the
/// authenticator with the offset where the associated data ends (RFC 8915 §5.6). An NTS packet carries no MAC, so
/// everything after the header must be extension fields. Allocates nothing.
/// </summary>
public readonly ref struct NtsFields
{
    private NtsFields(ReadOnlySpan<byte> packet, ReadOnlySpan<byte> uniqueIdentifier, ReadOnlySpan<byte> cookie, int placeholderCount,
        bool placeholdersMatch, int authenticatorOffset, ReadOnlySpan<byte> nonce, ReadOnlySpan<byte> ciphertext, int fieldsAfterAuthenticator)
    {
        Packet = packet;
        UniqueIdentifier = uniqueIdentifier;
        Cookie = cookie;
        PlaceholderCount = placeholderCount;
        PlaceholdersMatchCookie = placeholdersMatch;
        AuthenticatorOffset = authenticatorOffset;
        Nonce = nonce;
        Ciphertext = ciphertext;
        FieldsAfterAuthenticator = fieldsAfterAuthenticator;
    }

    public ReadOnlySpan<byte> Packet { get; }

    /// <summary>The field's whole body, padding included; empty when absent.</summary>
    public ReadOnlySpan<byte> UniqueIdentifier { get; }

    /// <summary>The cookie (body of the NTS Cookie field, padding included); empty when absent.</summary>
    public ReadOnlySpan<byte> Cookie { get; }

    /// <summary>How many new cookies the client asks for beyond the one that comes anyway (RFC 8915 §5.7).</summary>
    public int PlaceholderCount { get; }

    /// <summary>
    /// Every placeholder's body is as long as the cookie's (RFC 8915 §5.5 requires it; a server must not answer a
    /// placeholder with a larger cookie, or it would amplify). True when there are none.
    /// </summary>
    public bool PlaceholdersMatchCookie { get; }

    public bool HasAuthenticator => AuthenticatorOffset >= 0;

    /// <summary>Where the authenticator field starts, which is where the associated data ends; -1 when absent.</summary>
    public int AuthenticatorOffset { get; }

    /// <summary>The AEAD's associated data: the packet from its start to the authenticator (RFC 8915 §5.6).</summary>
    public ReadOnlySpan<byte> AssociatedData => HasAuthenticator ? Packet[..AuthenticatorOffset] : ReadOnlySpan<byte>.Empty;

    public ReadOnlySpan<byte> Nonce { get; }

    /// <summary>The ciphertext including the AEAD tag; it decrypts to extension fields (<see cref="NtsPlaintext"/>).</summary>
    public ReadOnlySpan<byte> Ciphertext { get; }

    /// <summary>Fields after the authenticator are outside the associated data: nothing in them can be trusted (RFC 8915 §5.6).</summary>
    public int FieldsAfterAuthenticator { get; }

    /// <summary>Walks all fields after the header (for types other than NTS's).</summary>
    public ExtensionFieldEnumerator EnumerateFields() => NtpPacketFields(Packet[NtpHeader.Size..]);

    public static NtsFieldStatus TryRead(ReadOnlySpan<byte> packet, out NtsFields fields)
    {
        fields = default;
        if (packet.Length < NtpHeader.Size)
        {
            return NtsFieldStatus.TooShort;
        }

        ReadOnlySpan<byte> uniqueIdentifier = default, cookie = default, nonce = default, ciphertext = default;
        bool haveUniqueIdentifier = false, haveCookie = false, placeholdersMatch = true;
        int placeholders = 0, authenticatorOffset = -1, after = 0, firstPlaceholderLength = -1;
        int position = NtpHeader.Size;
        while (position < packet.Length)
        {
            NtsFieldStatus status = NextField(packet[position..], out ushort type, out ReadOnlySpan<byte> body);
            if (status != NtsFieldStatus.Ok)
            {
                return status;
            }

            if (authenticatorOffset >= 0)
            {
                after++;
                if (type == NtsFieldType.Authenticator)
                {
                    return NtsFieldStatus.DuplicateField;
                }
            }
            else
            {
                switch (type)
                {
                    case NtsFieldType.UniqueIdentifier:
                        if (haveUniqueIdentifier)
                        {
                            return NtsFieldStatus.DuplicateField;
                        }

                        if (body.Length < NtsFieldWriter.MinUniqueIdentifierLength)
                        {
                            return NtsFieldStatus.ShortUniqueIdentifier;
                        }

                        haveUniqueIdentifier = true;
                        uniqueIdentifier = body;
                        break;
                    case NtsFieldType.Cookie:
                        if (haveCookie)
                        {
                            return NtsFieldStatus.DuplicateField;
                        }

                        haveCookie = true;
                        cookie = body;
                        break;
                    case NtsFieldType.CookiePlaceholder:
                        placeholders++;
                        placeholdersMatch &= firstPlaceholderLength < 0 || body.Length == firstPlaceholderLength;
                        firstPlaceholderLength = body.Length;
                        break;
                    case NtsFieldType.Authenticator:
                        if (!TryReadAuthenticator(body, out nonce, out ciphertext))
                        {
                            return NtsFieldStatus.BadAuthenticator;
                        }

                        authenticatorOffset = position;
                        break;
                }
            }

            position += 4 + body.Length;
        }

        // Placeholders may precede the cookie, so their length is compared once all fields are seen.
        placeholdersMatch &= placeholders == 0 || firstPlaceholderLength == cookie.Length;
        fields = new NtsFields(packet, uniqueIdentifier, cookie, placeholders, placeholdersMatch, authenticatorOffset, nonce, ciphertext, after);
        return NtsFieldStatus.Ok;
    }

    /// <summary>One field's type and body, checked against RFC 7822 §3's length rules and the octets left.</summary>
    internal static NtsFieldStatus NextField(ReadOnlySpan<byte> rest, out ushort type, out ReadOnlySpan<byte> body)
    {
        type = 0;
        body = default;
        if (rest.Length < 4)
        {
            return NtsFieldStatus.BadFieldLength;
        }

        type = BinaryPrimitives.ReadUInt16BigEndian(rest);
        int length = BinaryPrimitives.ReadUInt16BigEndian(rest[2..]);
        if (length < NtpPacket.MinExtensionFieldLength || length % 4 != 0)
        {
            return NtsFieldStatus.BadFieldLength;
        }

        if (length > rest.Length)
        {
            return NtsFieldStatus.TruncatedField;
        }

        body = rest[4..length];
        return NtsFieldStatus.Ok;
    }

    /// <summary>
    /// RFC 8915 §5.6: nonce length, ciphertext length, nonce padded to four, ciphertext padded to four, then any
    /// additional padding; the declared lengths must fit in the body.
    /// </summary>
    private static bool TryReadAuthenticator(ReadOnlySpan<byte> body, out ReadOnlySpan<byte> nonce, out ReadOnlySpan<byte> ciphertext)
    {
        nonce = default;
        ciphertext = default;
        int nonceLength = BinaryPrimitives.ReadUInt16BigEndian(body);
        int ciphertextLength = BinaryPrimitives.ReadUInt16BigEndian(body[2..]);
        int ciphertextStart = 4 + NtsFieldWriter.Pad4(nonceLength);
        if (ciphertextStart + NtsFieldWriter.Pad4(ciphertextLength) > body.Length)
        {
            return false;
        }

        nonce = body.Slice(4, nonceLength);
        ciphertext = body.Slice(ciphertextStart, ciphertextLength);
        return true;
    }

    private static ExtensionFieldEnumerator NtpPacketFields(ReadOnlySpan<byte> fields) => new(fields);
}

/// <summary>
/// Decrypted authenticator contents: extension fields (RFC 8915 §5.6). In a server's reply they are NTS Cookie
/// fields carrying the new cookies (§5.7). Validate once, then enumerate the cookies without allocating.
/// </summary>
public readonly ref struct NtsPlaintext
{
    private NtsPlaintext(ReadOnlySpan<byte> fields, int cookieCount)
    {
        Fields = fields;
        CookieCount = cookieCount;
    }

    public ReadOnlySpan<byte> Fields { get; }

    public int CookieCount { get; }

    public static NtsFieldStatus TryRead(ReadOnlySpan<byte> plaintext, out NtsPlaintext result)
    {
        result = default;
        int cookies = 0;
        for (int position = 0; position < plaintext.Length;)
        {
            NtsFieldStatus status = NtsFields.NextField(plaintext[position..], out ushort type, out ReadOnlySpan<byte> body);
            if (status != NtsFieldStatus.Ok)
            {
                return status;
            }

            cookies += type == NtsFieldType.Cookie ? 1 : 0;
            position += 4 + body.Length;
        }

        result = new NtsPlaintext(plaintext, cookies);
        return NtsFieldStatus.Ok;
    }

    public CookieEnumerator EnumerateCookies() => new(Fields);

    /// <summary>Yields each NTS Cookie field's body in order.</summary>
    public ref struct CookieEnumerator
    {
        private ExtensionFieldEnumerator _fields;

        internal CookieEnumerator(ReadOnlySpan<byte> fields)
        {
            _fields = new ExtensionFieldEnumerator(fields);
            Current = default;
        }

        public ReadOnlySpan<byte> Current { get; private set; }

        public readonly CookieEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            while (_fields.MoveNext())
            {
                if (_fields.Current.Type == NtsFieldType.Cookie)
                {
                    Current = _fields.Current.Value;
                    return true;
                }
            }

            return false;
        }
    }
}
