using System.Buffers.Binary;
using System.Net;
using Org.BouncyCastle.Tls;

namespace Meridian.Host.Nts;

/// <summary>
/// The constants NTS-KE's TLS layer is built from (RFC 8915 §4): one port, one ALPN name, one exporter label, and the
/// key lengths of the AEADs the record layer may pick.
/// </summary>
public static class NtsKeTls
{
    /// <summary>The IANA port for NTS-KE over TCP (RFC 8915 §4).</summary>
    public const int DefaultPort = 4460;

    /// <summary>The ALPN name both sides must negotiate (RFC 8915 §4); anything else is refused.</summary>
    public const string ApplicationProtocol = "ntske/1";

    /// <summary>The TLS exporter label of RFC 8915 §4.3.</summary>
    public const string ExporterLabel = "EXPORTER-network-time-security";

    /// <summary>Protocol ID of NTPv4 in the exporter context (RFC 8915 §5.1).</summary>
    public const ushort ProtocolNtpV4 = 0;

    /// <summary>AEAD_AES_SIV_CMAC_256 (RFC 5297), mandatory for NTS (RFC 8915 §5.1).</summary>
    public const ushort AeadAesSivCmac256 = 15;

    /// <summary>AEAD_AES_128_GCM_SIV (RFC 8452).</summary>
    public const ushort AeadAes128GcmSiv = 30;

    /// <summary>The key length the exporter must produce for an AEAD, or null for one we do not know.</summary>
    public static int? AeadKeyLength(ushort aeadId) => aeadId switch
    {
        AeadAesSivCmac256 => 32,
        AeadAes128GcmSiv => 16,
        _ => null,
    };

    /// <summary>The exporter context of RFC 8915 §4.3: protocol id ‖ AEAD id ‖ 0x00 (C2S) or 0x01 (S2C).</summary>
    public static byte[] ExporterContext(ushort protocolId, ushort aeadId, bool serverToClient)
    {
        var context = new byte[5];
        BinaryPrimitives.WriteUInt16BigEndian(context, protocolId);
        BinaryPrimitives.WriteUInt16BigEndian(context.AsSpan(2), aeadId);
        context[4] = serverToClient ? (byte)1 : (byte)0;
        return context;
    }

    internal static readonly ProtocolName Alpn = ProtocolName.Ntske_1;
}

/// <summary>
/// One established NTS-KE TLS connection as the record layer sees it: who the peer is and the exporter, so the
/// record layer can derive the C2S/S2C keys for whichever AEAD it negotiated (RFC 8915 §4.3, §5.1).
/// Valid only while the connection is open (during the handler call on the server, until Dispose on the client).
/// </summary>
public sealed class NtsKeTlsSession
{
    private readonly TlsContext context;

    internal NtsKeTlsSession(TlsContext context, EndPoint? remoteEndPoint)
    {
        this.context = context;
        RemoteEndPoint = remoteEndPoint;
    }

    /// <summary>The peer's address, for logs and rate limits.</summary>
    public EndPoint? RemoteEndPoint { get; }

    /// <summary>The negotiated ALPN name; always ntske/1 once the handshake was accepted.</summary>
    public string? ApplicationProtocol => context.SecurityParameters?.ApplicationProtocol?.GetUtf8Decoding();

    /// <summary>
    /// Exports an NTS key from the TLS 1.3 exporter (RFC 8446 §7.5) with the label and context of RFC 8915 §4.3.
    /// Both ends get the same bytes; <paramref name="serverToClient"/> picks the S2C key over the C2S key.
    /// </summary>
    public byte[] ExportKey(ushort protocolId, ushort aeadId, bool serverToClient, int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(length);
        return context.ExportKeyingMaterial(
            NtsKeTls.ExporterLabel, NtsKeTls.ExporterContext(protocolId, aeadId, serverToClient), length);
    }
}
