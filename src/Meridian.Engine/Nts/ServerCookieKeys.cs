using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Meridian.Engine.Nts;

/// <summary>Why a cookie did not open.</summary>
public enum CookieStatus
{
    /// <summary>Opened: the keys are in the output.</summary>
    Opened,

    /// <summary>Too short, too long, or a plaintext that is not AEAD id ‖ C2S ‖ S2C of a supported AEAD.</summary>
    Malformed,

    /// <summary>The key id is not one we hold (too old, or never ours): the client needs NTS-KE again.</summary>
    UnknownKey,

    /// <summary>The AEAD tag did not verify: forged or damaged.</summary>
    AuthenticationFailed,
}

/// <summary>What a cookie carries (RFC 8915 §6): the negotiated AEAD and the two session keys.</summary>
public sealed record NtsCookie(ushort AeadId, byte[] C2SKey, byte[] S2CKey);

/// <summary>One cookie master key: its 32-bit id (the cookie's first four octets) and when it was made.</summary>
public sealed class CookieMasterKey : IDisposable
{
    internal CookieMasterKey(uint id, DateTime created, byte[] key)
    {
        Id = id;
        Created = created;
        Key = key;
        Aead = new AesSivCmac256(key);
    }

    public uint Id { get; }

    public DateTime Created { get; }

    internal byte[] Key { get; }

    internal AesSivCmac256 Aead { get; }

    public void Dispose()
    {
        Aead.Dispose();
        CryptographicOperations.ZeroMemory(Key);
    }
}

/// <summary>
/// The server's cookie master keys (RFC 8915 §6): cookies are sealed under the current key and opened under any key
/// still held, so a server keeps no per-client state. Format, as RFC 8915 §6 suggests:
/// <c>key id (4) ‖ nonce (16) ‖ AEAD_AES_SIV_CMAC_256(K, nonce, no AD, AEAD id (2) ‖ C2S ‖ S2C)</c>.
/// </summary>
/// <remarks>
/// <para>Rotation (RFC 8915 §6 asks that master keys change regularly): <see cref="Rotate"/> makes a new random key
/// current and keeps the <see cref="Retained"/> previous ones for opening only, so a cookie stays usable for at
/// least <c>Retained</c> rotation periods (3 days with daily rotation) and a client that kept none gets a fresh set
/// from any NTP reply it authenticates.</para>
/// <para>Several servers behind one name share the key file (the text of <see cref="Format"/> and <see cref="Parse"/>, which the daemon writes and reads) so each opens
/// the others' cookies; one of them rotates and saves, the rest <see cref="Merge"/> the file when it changes. Keys
/// are merged by id rather than replaced, so two servers that both rotated keep both new keys. The key set is
/// swapped as a whole, so a packet thread never sees a half-rotated set.</para>
/// </remarks>
public sealed partial class ServerCookieKeys : IDisposable
{
    /// <summary>Master key length: AES-SIV-CMAC-256 (RFC 5297).</summary>
    public const int MasterKeyLength = AesSivCmac256.KeySize;

    public const int KeyIdLength = 4;

    /// <summary>The cookie nonce (RFC 8915 §6 leaves the length to the AEAD; 16 octets as for NTS packets).</summary>
    public const int NonceLength = 16;

    /// <summary>The default number of previous keys kept for opening.</summary>
    public const int DefaultRetained = 3;

    /// <summary>First line of the key file; the number is the format version.</summary>
    public const string FileHeader = "meridian-nts-cookie-keys 1";

    /// <summary>
    /// The AEAD identifier and two zero octets: cookies are then 104 (AES-SIV) or 72 (GCM-SIV) octets, a multiple of
    /// four, so that the NTS Cookie field needs no padding (RFC 7822 §3) and chrony, which refuses other lengths,
    /// takes them.
    /// </summary>
    private const int AeadIdLength = 4;
    private const int MaxKeyLength = 32;

    private readonly IRandomSource _random;
    private CookieMasterKey[] _keys;

    /// <summary>A fresh set holding one new key, created at <paramref name="now"/>.</summary>
    public ServerCookieKeys(IRandomSource random, DateTime now, int retained = DefaultRetained)
        : this(random, retained, [])
    {
        _keys = [NewKey(now, [])];
    }

    private ServerCookieKeys(IRandomSource random, int retained, CookieMasterKey[] keys)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(retained);
        _random = random;
        Retained = retained;
        _keys = keys;
    }

    /// <summary>How many keys besides the current one are kept for opening.</summary>
    public int Retained { get; }

    /// <summary>The key new cookies are sealed under.</summary>
    public CookieMasterKey Current => Volatile.Read(ref _keys)[0];

    /// <summary>All keys held, newest (current) first.</summary>
    public IReadOnlyList<CookieMasterKey> Keys => Volatile.Read(ref _keys);

    /// <summary>The length of a cookie for <paramref name="aeadId"/>, or null when the AEAD is unsupported.</summary>
    public static int? CookieLength(ushort aeadId) =>
        NtsAead.KeyLength(aeadId) is int keyLength ? KeyIdLength + NonceLength + AesSivCmac256.SivSize + AeadIdLength + (2 * keyLength) : null;

    /// <summary>
    /// Makes a new random key current and drops keys beyond <see cref="Retained"/> previous ones. Dropped keys are
    /// not zeroed here: another thread may still be opening with them.
    /// </summary>
    public void Rotate(DateTime now)
    {
        CookieMasterKey[] keys = Volatile.Read(ref _keys);
        CookieMasterKey fresh = NewKey(now, keys);
        CookieMasterKey[] next = [fresh, .. keys.Take(Retained)];
        Volatile.Write(ref _keys, next);
    }

    /// <summary>Rotates when the current key is <paramref name="period"/> old or more (e.g. daily); true when it did.</summary>
    public bool RotateIfDue(DateTime now, TimeSpan period)
    {
        if (now - Current.Created < period)
        {
            return false;
        }

        Rotate(now);
        return true;
    }

    /// <summary>Seals the session keys under the current key; returns the cookie length written.</summary>
    public int Seal(ushort aeadId, ReadOnlySpan<byte> c2sKey, ReadOnlySpan<byte> s2cKey, Span<byte> cookie)
    {
        int keyLength = NtsAead.KeyLength(aeadId) ?? throw new ArgumentException($"AEAD {aeadId} is not supported", nameof(aeadId));
        if (c2sKey.Length != keyLength || s2cKey.Length != keyLength)
        {
            throw new ArgumentException($"AEAD {aeadId} keys are {keyLength} octets");
        }

        int length = CookieLength(aeadId)!.Value;
        if (cookie.Length < length)
        {
            throw new ArgumentException($"a cookie needs {length} octets", nameof(cookie));
        }

        CookieMasterKey key = Current;
        Span<byte> plaintext = stackalloc byte[AeadIdLength + (2 * MaxKeyLength)];
        plaintext = plaintext[..(AeadIdLength + (2 * keyLength))];
        BinaryPrimitives.WriteUInt16BigEndian(plaintext, aeadId);
        plaintext[2..AeadIdLength].Clear();
        c2sKey.CopyTo(plaintext[AeadIdLength..]);
        s2cKey.CopyTo(plaintext[(AeadIdLength + keyLength)..]);

        BinaryPrimitives.WriteUInt32BigEndian(cookie, key.Id);
        Span<byte> nonce = cookie.Slice(KeyIdLength, NonceLength);
        BinaryPrimitives.WriteUInt64LittleEndian(nonce, _random.NextUInt64());
        BinaryPrimitives.WriteUInt64LittleEndian(nonce[8..], _random.NextUInt64());
        key.Aead.Seal(nonce, [], plaintext, cookie[(KeyIdLength + NonceLength)..]);
        CryptographicOperations.ZeroMemory(plaintext);
        return length;
    }

    /// <summary>
    /// Opens a cookie without allocating: the keys go to <paramref name="c2sKey"/> and <paramref name="s2cKey"/>
    /// (32 octets each suffice), their length to <paramref name="keyLength"/>. Never throws for hostile input.
    /// </summary>
    public CookieStatus Open(ReadOnlySpan<byte> cookie, out ushort aeadId, Span<byte> c2sKey, Span<byte> s2cKey, out int keyLength)
    {
        aeadId = 0;
        keyLength = 0;
        const int fixedPart = KeyIdLength + NonceLength + AesSivCmac256.SivSize + AeadIdLength;
        int keysLength = cookie.Length - fixedPart;
        if (keysLength <= 0 || keysLength % 2 != 0 || keysLength > 2 * MaxKeyLength)
        {
            return CookieStatus.Malformed;
        }

        uint id = BinaryPrimitives.ReadUInt32BigEndian(cookie);
        CookieMasterKey? key = Find(id);
        if (key is null)
        {
            return CookieStatus.UnknownKey;
        }

        Span<byte> plaintext = stackalloc byte[AeadIdLength + (2 * MaxKeyLength)];
        plaintext = plaintext[..(cookie.Length - fixedPart + AeadIdLength)];
        ReadOnlySpan<byte> nonce = cookie.Slice(KeyIdLength, NonceLength);
        if (!key.Aead.TryOpen(nonce, [], cookie[(KeyIdLength + NonceLength)..], plaintext, out _))
        {
            return CookieStatus.AuthenticationFailed;
        }

        // Authentic, so ours; still check that what we sealed is self-consistent before trusting it.
        ushort id16 = BinaryPrimitives.ReadUInt16BigEndian(plaintext);
        int length = keysLength / 2;
        if (NtsAead.KeyLength(id16) != length || c2sKey.Length < length || s2cKey.Length < length)
        {
            CryptographicOperations.ZeroMemory(plaintext);
            return CookieStatus.Malformed;
        }

        plaintext.Slice(AeadIdLength, length).CopyTo(c2sKey);
        plaintext.Slice(AeadIdLength + length, length).CopyTo(s2cKey);
        CryptographicOperations.ZeroMemory(plaintext);
        aeadId = id16;
        keyLength = length;
        return CookieStatus.Opened;
    }

    /// <summary>
    /// How many rotations back the key a cookie names was current: 0 for the current key, up to
    /// <see cref="Retained"/>; -1 for a key not held (too old, or never ours). Reads the key id only.
    /// </summary>
    public int KeyAge(ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length < KeyIdLength)
        {
            return -1;
        }

        uint id = BinaryPrimitives.ReadUInt32BigEndian(cookie);
        CookieMasterKey[] keys = Volatile.Read(ref _keys);
        for (int i = 0; i < keys.Length; i++)
        {
            if (keys[i].Id == id)
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Opens a cookie into a new <see cref="NtsCookie"/> (allocates; for the NTS-KE side and tests).</summary>
    public CookieStatus Open(ReadOnlySpan<byte> cookie, out NtsCookie? contents)
    {
        Span<byte> c2s = stackalloc byte[MaxKeyLength], s2c = stackalloc byte[MaxKeyLength];
        CookieStatus status = Open(cookie, out ushort aeadId, c2s, s2c, out int length);
        contents = status == CookieStatus.Opened ? new NtsCookie(aeadId, c2s[..length].ToArray(), s2c[..length].ToArray()) : null;
        CryptographicOperations.ZeroMemory(c2s);
        CryptographicOperations.ZeroMemory(s2c);
        return status;
    }

    /// <summary>
    /// The key file's text: <see cref="FileHeader"/>, then one line per key, newest (current) first:
    /// <c>key &lt;id, 8 hex digits&gt; &lt;created, ISO 8601 UTC&gt; &lt;key, 64 hex digits&gt;</c>. Lines starting with
    /// <c>#</c> and blank lines are ignored on reading.
    /// </summary>
    public string Format()
    {
        var text = new StringBuilder();
        text.Append(FileHeader).Append('\n');
        text.Append("# NTS cookie master keys (RFC 8915 section 6), newest first; the first is current. Secret: keep mode 0600.\n");
        foreach (CookieMasterKey key in Keys)
        {
            text.Append(CultureInfo.InvariantCulture, $"key {key.Id:x8} {key.Created.ToUniversalTime():yyyy-MM-ddTHH:mm:ssZ} {Convert.ToHexStringLower(key.Key)}\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// Parses the text of <see cref="Format"/>; keys beyond the current one and <paramref name="retained"/> are ignored.
    /// Throws <see cref="CookieKeyFileException"/> (with the line and column) for text that is not a key file.
    /// </summary>
    public static ServerCookieKeys Parse(string text, IRandomSource random, int retained = DefaultRetained)
    {
        List<CookieMasterKey> keys = [.. ReadKeys(text).Select(k => k.Key)];
        foreach (CookieMasterKey dropped in keys.Skip(retained + 1))
        {
            dropped.Dispose();
        }

        return new ServerCookieKeys(random, retained, [.. keys.Take(retained + 1)]);
    }

    public void Dispose()
    {
        foreach (CookieMasterKey key in Volatile.Read(ref _keys))
        {
            key.Dispose();
        }
    }

    private CookieMasterKey? Find(uint id)
    {
        foreach (CookieMasterKey key in Volatile.Read(ref _keys))
        {
            if (key.Id == id)
            {
                return key;
            }
        }

        return null;
    }

    private CookieMasterKey NewKey(DateTime now, CookieMasterKey[] existing)
    {
        uint id;
        do
        {
            id = (uint)_random.NextUInt64();
        }
        while (existing.Any(k => k.Id == id));

        byte[] key = new byte[MasterKeyLength];
        for (int i = 0; i < MasterKeyLength; i += sizeof(ulong))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(key.AsSpan(i), _random.NextUInt64());
        }

        // Whole seconds, as the file keeps them, so a saved and reloaded set compares equal.
        DateTime utc = now.ToUniversalTime();
        return new CookieMasterKey(id, new DateTime(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerSecond), DateTimeKind.Utc), key);
    }

    private static bool IsHex(string s) => s.All(char.IsAsciiHexDigit);
}
