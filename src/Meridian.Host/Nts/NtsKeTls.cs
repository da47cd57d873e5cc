using Meridian.Protocol.Nts;
using System.Net;
using System.Security.Cryptography;
using Org.BouncyCastle.Tls;

namespace Meridian.Host.Nts;

/// <summary>
/// The constants NTS-KE's TLS layer is built from (RFC 8915 §4): one port, one ALPN name, one exporter label, and the
/// key lengths of the AEADs the record layer may pick.
/// </summary>
public static class NtsKeTls
{
    /// <summary>The IANA port for NTS-KE over TCP (RFC 8915 §4).</summary>
    public const int DefaultPort = NtsKe.Port;

    /// <summary>The ALPN name both sides must negotiate (RFC 8915 §4); anything else is refused.</summary>
    public const string ApplicationProtocol = NtsKe.AlpnProtocol;

    /// <summary>The TLS exporter label of RFC 8915 §4.3.</summary>
    public const string ExporterLabel = NtsKe.ExporterLabel;

    /// <summary>Protocol ID of NTPv4 in the exporter context (RFC 8915 §5.1).</summary>
    public const ushort ProtocolNtpV4 = NtsKe.ProtocolNtpv4;

    /// <summary>AEAD_AES_SIV_CMAC_256 (RFC 5297), mandatory for NTS (RFC 8915 §5.1).</summary>
    public const ushort AeadAesSivCmac256 = NtsKe.AeadAesSivCmac256;

    /// <summary>AEAD_AES_SIV_CMAC_384 (RFC 5297).</summary>
    public const ushort AeadAesSivCmac384 = NtsKe.AeadAesSivCmac384;

    /// <summary>AEAD_AES_SIV_CMAC_512 (RFC 5297).</summary>
    public const ushort AeadAesSivCmac512 = NtsKe.AeadAesSivCmac512;

    /// <summary>AEAD_AES_128_GCM_SIV (RFC 8452).</summary>
    public const ushort AeadAes128GcmSiv = NtsKe.AeadAes128GcmSiv;

    /// <summary>The key length the exporter must produce for an AEAD, or null for one we do not know.</summary>
    public static int? AeadKeyLength(ushort aeadId) => aeadId switch
    {
        AeadAesSivCmac256 => 32,
        AeadAesSivCmac384 => 48,
        AeadAesSivCmac512 => 64,
        AeadAes128GcmSiv => 16,
        _ => null,
    };

    /// <summary>The exporter context of RFC 8915 §4.3: protocol id ‖ AEAD id ‖ 0x00 (C2S) or 0x01 (S2C).</summary>
    public static byte[] ExporterContext(ushort protocolId, ushort aeadId, bool serverToClient)
    {
        var context = new byte[NtsKe.ExporterContextLength];
        NtsKe.WriteExporterContext(context, protocolId, aeadId, serverToClient);
        return context;
    }

    /// <summary>
    /// The keys exported at every handshake: NTPv4 with each AEAD the record layer may choose (RFC 8915 §5.1),
    /// at its key length (RFC 5297 §6, RFC 8452).
    /// </summary>
    public static IReadOnlyList<NtsKeKeySpec> DefaultKeySpecs { get; } =
    [
        new(ProtocolNtpV4, AeadAesSivCmac256, 32),
        new(ProtocolNtpV4, AeadAesSivCmac384, 48),
        new(ProtocolNtpV4, AeadAesSivCmac512, 64),
        new(ProtocolNtpV4, AeadAes128GcmSiv, 16),
    ];

    internal static readonly ProtocolName Alpn = ProtocolName.Ntske_1;
}

/// <summary>One key the exporter is asked for at handshake time: protocol, AEAD and the AEAD's key length.</summary>
public readonly record struct NtsKeKeySpec(ushort ProtocolId, ushort AeadId, int Length);

/// <summary>
/// One established NTS-KE TLS connection as the record layer sees it: who the peer is and the exported keys, so the
/// record layer can take the C2S/S2C keys of whichever AEAD it negotiates (RFC 8915 §4.3, §5.1).
/// BouncyCastle allows the exporter only inside NotifyHandshakeComplete (it then wipes the exporter secret), so every
/// key of <see cref="NtsKeTls.DefaultKeySpecs"/> is exported there, in both directions, and served from this object.
/// </summary>
public sealed class NtsKeTlsSession
{
    private readonly Dictionary<(ushort, ushort, bool, int), byte[]> keys = [];

    private NtsKeTlsSession(EndPoint? remoteEndPoint, string? applicationProtocol)
    {
        RemoteEndPoint = remoteEndPoint;
        ApplicationProtocol = applicationProtocol;
    }

    /// <summary>The peer's address, for logs and rate limits.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The negotiated ALPN name; always ntske/1 once the handshake was accepted.</summary>
    public string? ApplicationProtocol { get; }

    /// <summary>
    /// The NTS key from the TLS 1.3 exporter (RFC 8446 §7.5) with the label and context of RFC 8915 §4.3. Both ends get
    /// the same bytes; <paramref name="serverToClient"/> picks the S2C key over the C2S key.
    /// </summary>
    /// <exception cref="InvalidOperationException">For a key not among those exported at handshake time.</exception>
    public byte[] ExportKey(ushort protocolId, ushort aeadId, bool serverToClient, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        lock (keys)
        {
            return keys.TryGetValue((protocolId, aeadId, serverToClient, length), out byte[]? key)
                ? (byte[])key.Clone()
                : throw new InvalidOperationException(
                    $"no key for protocol {protocolId}, AEAD {aeadId}, length {length}: only the keys named at handshake time can be exported");
        }
    }

    /// <summary>Runs the exporter for every spec, both directions; call from NotifyHandshakeComplete.</summary>
    internal static NtsKeTlsSession Capture(TlsContext context, EndPoint? remoteEndPoint, IEnumerable<NtsKeKeySpec> specs)
    {
        var session = new NtsKeTlsSession(remoteEndPoint, context.SecurityParameters?.ApplicationProtocol?.GetUtf8Decoding());
        foreach (NtsKeKeySpec spec in specs)
        {
            foreach (bool serverToClient in (bool[])[false, true])
            {
                session.keys[(spec.ProtocolId, spec.AeadId, serverToClient, spec.Length)] = context.ExportKeyingMaterial(
                    NtsKeTls.ExporterLabel, NtsKeTls.ExporterContext(spec.ProtocolId, spec.AeadId, serverToClient), spec.Length);
            }
        }

        return session;
    }

    /// <summary>Wipes the keys once the connection is over; the record layer has copied what it needs.</summary>
    internal void Clear()
    {
        lock (keys)
        {
            foreach (byte[] key in keys.Values)
                CryptographicOperations.ZeroMemory(key);
            keys.Clear();
        }
    }
}
