using System.Buffers.Binary;
using System.Security.Cryptography;
using Meridian.Protocol;
using Meridian.Protocol.Nts;

namespace Meridian.Engine.Nts;

/// <summary>What a client makes of a reply's NTS fields (RFC 8915 §5.7).</summary>
public enum NtsReplyCheck
{
    /// <summary>Our Unique Identifier and an authenticator that opened with the S2C key: the time may be used.</summary>
    Ok,

    /// <summary>
    /// An NTSN kiss echoing our Unique Identifier: the server could not use the cookie or keys. Not a time sample;
    /// the client re-keys unless an authentic reply to the same request still comes (RFC 8915 §5.7).
    /// </summary>
    Nak,

    /// <summary>Unknown or missing Unique Identifier, a missing or failing authenticator, malformed fields: dropped.</summary>
    Bad,
}

/// <summary>
/// The NTS client's state for one association (RFC 8915 §5.7): the AEAD keyed with C2S and S2C from NTS-KE, the
/// cookie jar, the NTP server NTS-KE named, and the Unique Identifier of the request in flight. Not thread-safe:
/// the engine uses it from its one thread.
/// </summary>
public sealed class NtsClientState : IDisposable
{
    /// <summary>RFC 8915 §5.7 suggests a client keep eight cookies, one per request it may have unanswered.</summary>
    public const int MaxCookies = 8;

    /// <summary>Unique Identifier length (RFC 8915 §5.3: at least 32 random octets).</summary>
    public const int UniqueIdentifierLength = 32;

    /// <summary>Below this the nonce is padded out (RFC 8915 §5.6: the nonce with its padding is at least 16 octets).</summary>
    public const int MinNonceAndPadding = 16;

    /// <summary>Longest cookie taken: NTS-KE allows any length, but a packet with eight of them must stay sendable.</summary>
    public const int MaxCookieLength = 256;

    /// <summary>
    /// The largest request this writes: header, Unique Identifier, a cookie and seven placeholders of
    /// <see cref="MaxCookieLength"/>, and an authenticator with a 16-octet nonce and tag.
    /// </summary>
    public const int MaxRequestLength = NtpHeader.Size + (4 + UniqueIdentifierLength) + (MaxCookies * (4 + MaxCookieLength)) + 8 + 16 + 16;

    /// <summary>The NTP port when NTS-KE names none (RFC 8915 §4.1.8).</summary>
    public const ushort DefaultNtpPort = 123;

    private readonly Queue<byte[]> _cookies = new();
    private readonly byte[] _uniqueIdentifier = new byte[UniqueIdentifierLength];
    private bool _outstanding;
    private bool _nak;
    private bool _disposed;

    private NtsClientState(INtsAead c2s, INtsAead s2c, string? server, ushort port)
    {
        ClientToServer = c2s;
        ServerToClient = s2c;
        Server = server;
        Port = port;
    }

    /// <summary>The AEAD negotiated by NTS-KE (IANA id).</summary>
    public ushort AeadId => ClientToServer.AeadId;

    /// <summary>Seals our requests (RFC 8915 §5.1: the C2S key exported from the TLS session).</summary>
    public INtsAead ClientToServer { get; }

    /// <summary>Opens the server's replies (the S2C key).</summary>
    public INtsAead ServerToClient { get; }

    /// <summary>The NTP server NTS-KE named (RFC 8915 §4.1.7); null when it is the NTS-KE host itself.</summary>
    public string? Server { get; }

    /// <summary>The NTP port NTS-KE named (RFC 8915 §4.1.8), 123 when it named none.</summary>
    public ushort Port { get; }

    public int CookieCount => _cookies.Count;

    /// <summary>The last reply was an NTS NAK echoing our Unique Identifier (cleared by an authentic reply to that request).</summary>
    public bool NakReceived => _nak;

    /// <summary>
    /// No NTP request can be sent until a new NTS-KE: no cookie left, a NAK (RFC 8915 §5.7), or the keys disposed.
    /// </summary>
    public bool NeedsKeyExchange => _disposed || _nak || _cookies.Count == 0;

    /// <summary>A request went out and its reply has not been accepted: <see cref="CheckReply"/> wants its identifier.</summary>
    public bool HasOutstandingRequest => _outstanding;

    /// <summary>
    /// The state after a successful NTS-KE. The keys are copied into keyed AEADs and not kept. An AEAD this build
    /// does not support or keys of the wrong length are the NTS-KE code's bug (it negotiated them) and throw.
    /// </summary>
    public static NtsClientState FromKeyExchange(ushort aeadId, ReadOnlySpan<byte> c2sKey, ReadOnlySpan<byte> s2cKey, IEnumerable<byte[]> cookies,
        string? server = null, ushort? port = null)
    {
        ArgumentNullException.ThrowIfNull(cookies);
        if (NtsAead.KeyLength(aeadId) is not int keyLength)
        {
            throw new ArgumentException($"AEAD {aeadId} is not supported", nameof(aeadId));
        }

        if (c2sKey.Length != keyLength || s2cKey.Length != keyLength)
        {
            throw new ArgumentException($"AEAD {aeadId} keys are {keyLength} octets");
        }

        INtsAead c2s = NtsAead.Create(aeadId, c2sKey)!;
        INtsAead s2c = NtsAead.Create(aeadId, s2cKey)!;
        var state = new NtsClientState(c2s, s2c, server, port ?? DefaultNtpPort);
        foreach (byte[] cookie in cookies)
        {
            state.AddCookie(cookie);
        }

        return state;
    }

    /// <summary>The same from a parsed NTS-KE response and the keys exported from its TLS session (RFC 8915 §5.1).</summary>
    public static NtsClientState FromKeyExchange(NtsKeResponse response, ReadOnlySpan<byte> c2sKey, ReadOnlySpan<byte> s2cKey)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (!response.IsUsableForNtpv4)
        {
            throw new ArgumentException("the NTS-KE response gives no NTPv4 AEAD and cookies", nameof(response));
        }

        return FromKeyExchange(response.AeadAlgorithm!.Value, c2sKey, s2cKey, response.Cookies, response.Server, response.Port);
    }

    /// <summary>
    /// Appends the NTS fields to a request whose header is the first <paramref name="headerLength"/> octets of
    /// <paramref name="packet"/> (RFC 8915 §5.7): a fresh Unique Identifier, the oldest cookie (each is sent once,
    /// so two requests cannot be linked by it, §5.5 and §10.1), placeholders asking that the jar be refilled to
    /// <see cref="MaxCookies"/>, and the authenticator over everything before it with an empty plaintext. Returns the
    /// packet's length. Without a usable state (see <see cref="NeedsKeyExchange"/>) it is the caller's bug and throws.
    /// </summary>
    public int WriteRequestFields(Span<byte> packet, int headerLength, IRandomSource random)
    {
        ArgumentNullException.ThrowIfNull(random);
        if (NeedsKeyExchange)
        {
            throw new InvalidOperationException("no usable NTS keys or cookies: NTS-KE must run first");
        }

        byte[] cookie = _cookies.Peek();
        int placeholders = MaxCookies - (_cookies.Count - 1) - 1;
        int nonceLength = ClientToServer.NonceLength;
        int padding = Math.Max(0, MinNonceAndPadding - nonceLength);
        int needed = headerLength + (4 + UniqueIdentifierLength) + ((1 + placeholders) * NtsFieldWriter.FieldLength(cookie.Length))
            + NtsFieldWriter.AuthenticatorLength(nonceLength, ClientToServer.Overhead, padding);
        if (packet.Length < needed)
        {
            throw new ArgumentException($"an NTS request needs {needed} octets", nameof(packet));
        }

        _cookies.Dequeue();
        Fill(_uniqueIdentifier, random);
        _outstanding = true;

        // A new request: a NAK to the previous one no longer says anything (RFC 8915 §5.7 waits one poll for it).
        _nak = false;
        int position = headerLength;
        position += NtsFieldWriter.WriteUniqueIdentifier(packet[position..], _uniqueIdentifier);
        position += NtsFieldWriter.WriteCookie(packet[position..], cookie);
        for (int i = 0; i < placeholders; i++)
        {
            position += NtsFieldWriter.WriteCookiePlaceholder(packet[position..], cookie.Length);
        }

        CryptographicOperations.ZeroMemory(cookie);

        Span<byte> nonce = stackalloc byte[nonceLength];
        Fill(nonce, random);
        int authenticator = NtsFieldWriter.WriteAuthenticator(packet[position..], nonce, ClientToServer.Overhead, out Span<byte> ciphertext, padding);

        // RFC 8915 §5.6: the associated data is the packet up to the authenticator; the plaintext is empty.
        ClientToServer.Seal(nonce, packet[..position], ReadOnlySpan<byte>.Empty, ciphertext);
        return position + authenticator;
    }

    /// <summary>
    /// Checks a reply before any of its timestamps is used (RFC 8915 §5.7): it must echo our Unique Identifier and
    /// carry an authenticator that opens with the S2C key over everything before it; the cookies in its plaintext
    /// then go into the jar. A NAK counts only with our Unique Identifier, since it cannot be authenticated. Cookies
    /// or fields outside the ciphertext are never taken.
    /// </summary>
    public NtsReplyCheck CheckReply(ReadOnlySpan<byte> reply)
    {
        if (_disposed || !_outstanding || NtsFields.TryRead(reply, out NtsFields fields) != NtsFieldStatus.Ok
            || fields.UniqueIdentifier.Length != UniqueIdentifierLength
            || !CryptographicOperations.FixedTimeEquals(fields.UniqueIdentifier, _uniqueIdentifier))
        {
            return NtsReplyCheck.Bad;
        }

        if (!NtpHeader.TryRead(reply, out NtpHeader header))
        {
            return NtsReplyCheck.Bad;
        }

        if (!fields.HasAuthenticator)
        {
            // RFC 8915 §5.7: an NTS NAK carries the Unique Identifier and no authenticator. The request stays
            // outstanding: if the NAK was forged, the real reply may still come before the next poll.
            if (NtsNak.IsNak(header))
            {
                _nak = true;
                return NtsReplyCheck.Nak;
            }

            return NtsReplyCheck.Bad;
        }

        // Fields after the authenticator are outside the associated data (RFC 8915 §5.6): nothing may ride there.
        if (fields.FieldsAfterAuthenticator != 0 || fields.Ciphertext.Length < ServerToClient.Overhead)
        {
            return NtsReplyCheck.Bad;
        }

        byte[] plaintext = new byte[fields.Ciphertext.Length - ServerToClient.Overhead];
        if (!ServerToClient.TryOpen(fields.Nonce, fields.AssociatedData, fields.Ciphertext, plaintext, out int written)
            || NtsPlaintext.TryRead(plaintext.AsSpan(0, written), out NtsPlaintext contents) != NtsFieldStatus.Ok)
        {
            return NtsReplyCheck.Bad;
        }

        // One answer per request: a replay of this reply finds no identifier to match.
        _outstanding = false;
        _nak = false;
        foreach (ReadOnlySpan<byte> cookie in contents.EnumerateCookies())
        {
            AddCookie(cookie);
        }

        CryptographicOperations.ZeroMemory(plaintext);
        return NtsReplyCheck.Ok;
    }

    /// <summary>Forgets the cookies and keys, e.g. when the association goes or new keys replace these.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        while (_cookies.TryDequeue(out byte[]? cookie))
        {
            CryptographicOperations.ZeroMemory(cookie);
        }

        ClientToServer.Dispose();
        ServerToClient.Dispose();
    }

    /// <summary>Jar of at most <see cref="MaxCookies"/>: the oldest give way to new ones, which are the least linkable.</summary>
    private void AddCookie(ReadOnlySpan<byte> cookie)
    {
        if (cookie.Length == 0 || cookie.Length > MaxCookieLength)
        {
            return;
        }

        _cookies.Enqueue(cookie.ToArray());
        while (_cookies.Count > MaxCookies)
        {
            CryptographicOperations.ZeroMemory(_cookies.Dequeue());
        }
    }

    private static void Fill(Span<byte> destination, IRandomSource random)
    {
        Span<byte> word = stackalloc byte[sizeof(ulong)];
        for (int i = 0; i < destination.Length; i += sizeof(ulong))
        {
            BinaryPrimitives.WriteUInt64LittleEndian(word, random.NextUInt64());
            word[..Math.Min(sizeof(ulong), destination.Length - i)].CopyTo(destination[i..]);
        }
    }
}
