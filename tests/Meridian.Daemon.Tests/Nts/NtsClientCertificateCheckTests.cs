using Meridian.Config;
using Meridian.Host.Nts;

namespace Meridian.Daemon.Tests.Nts;

/// <summary>The certificate check our NTS-KE client asks for: nocerttimecheck counts clock updates, noval skips it all.</summary>
public sealed class NtsClientCertificateCheckTests
{
    [Theory]
    [InlineData(3, 0, true)]
    [InlineData(3, 2, true)]
    [InlineData(3, 3, false)]
    [InlineData(3, 40, false)]
    [InlineData(0, 0, false)]
    public void Nocerttimecheck_skips_the_dates_only_before_N_clock_updates(int n, long updates, bool skipped)
    {
        NtsKeClientOptions options = NtsClient.ClientOptions(new NtsConfig { NoCertTimeCheck = n, CertificateAuthorities = "/ca.pem" }, noval: false, updates);
        Assert.Equal((skipped, false, "/ca.pem"), (options.SkipDateCheck, options.SkipVerification, options.CaFile));
    }

    [Fact]
    public void Noval_skips_the_whole_check_and_leaves_the_dates_to_nocerttimecheck()
    {
        NtsKeClientOptions options = NtsClient.ClientOptions(new NtsConfig(), noval: true, 0);
        Assert.Equal((false, true), (options.SkipDateCheck, options.SkipVerification));
    }

    [Theory]
    [InlineData("/server-ca.pem", "/global-ca.pem", "/server-ca.pem")]
    [InlineData(null, "/global-ca.pem", "/global-ca.pem")]
    [InlineData(null, null, null)]
    public void A_server_lines_ca_wins_over_nts_ca(string? serverCa, string? globalCa, string? used)
    {
        NtsKeClientOptions options = NtsClient.ClientOptions(new NtsConfig { CertificateAuthorities = globalCa }, noval: false, 0, serverCa);
        Assert.Equal(used, options.CaFile);
    }

    [Theory]
    [InlineData("server ntp.test:4461 nts ca /a.pem aead AES_128_GCM_SIV", 4461, "/a.pem", (ushort)30)]
    [InlineData("server ntp.test nts", 4460, null, null)]
    public void The_NTS_KE_port_ca_and_aead_of_a_server_line_reach_the_association(string line, int port, string? ca, ushort? aead)
    {
        AssociationConfig config = Assert.Single(ConfigParser.Parse(line, "ntp.conf").Associations);
        Meridian.Engine.AssociationSettings settings = DaemonPlan.Settings(config, System.Net.IPAddress.Parse("198.18.0.1"));
        Assert.Equal((port, ca, aead, "ntp.test"), (settings.NtsKePort, settings.NtsCa, settings.NtsAead, settings.Name));
    }
}
