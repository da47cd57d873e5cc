using System.Net;
using Meridian.Config;
using Meridian.Engine.Nts;
using Meridian.Host;
using Meridian.Host.Tests.Nts;

namespace Meridian.Daemon.Tests.Nts;

/// <summary>The daemon's NTS server: the cookie key file a fleet shares, and the AEAD a client offers first.</summary>
public sealed class NtsServerTests(NtsKeCertificates pki) : IClassFixture<NtsKeCertificates>
{
    [Fact]
    public void Servers_sharing_the_cookie_file_open_each_others_cookies_and_the_file_is_the_owners_alone()
    {
        string file = Path.Combine(pki.Directory, $"nts-keys-{Guid.NewGuid():N}");
        var config = new NtsConfig { Enabled = true, Certificate = pki.CertFile("ec"), Key = pki.KeyFile("ec"), CookieKeys = file };
        var log = Log.ToWriter("ntpd", TextWriter.Null);
        using NtsServer first = NtsServer.Start(config, [IPAddress.Loopback], 0, log);
        Assert.True(File.Exists(file));
        Assert.True(OperatingSystem.IsLinux() && File.GetUnixFileMode(file) == (UnixFileMode.UserRead | UnixFileMode.UserWrite), "the cookie key file must be mode 0600");
        using NtsServer second = NtsServer.Start(config, [IPAddress.Loopback], 0, log);

        byte[] cookie = new byte[ServerCookieKeys.CookieLength(NtsAeadId.AesSivCmac256)!.Value];
        first.Keys.Seal(NtsAeadId.AesSivCmac256, new byte[32], new byte[32], cookie);
        Assert.Equal(CookieStatus.Opened, second.Keys.Open(cookie, out _));
        Assert.Equal(first.Keys.Current.Id, second.Keys.Current.Id);
    }

    [Theory]
    [InlineData(null, new ushort[] { 15, 30 })]
    [InlineData((ushort)30, new ushort[] { 30, 15 })]
    [InlineData((ushort)15, new ushort[] { 15, 30 })]
    public void Nts_aead_is_offered_first(ushort? configured, ushort[] offered) =>
        Assert.Equal(offered, NtsClient.AeadPreference(configured));
}
