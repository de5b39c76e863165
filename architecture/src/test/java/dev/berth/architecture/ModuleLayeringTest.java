package dev.berth.architecture;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.Architectures.layeredArchitecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.lang.ArchRule;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module table of ARCHITECTURE.md as rules over berth's production classes: each module
 * is its packages, and a module may use only the modules its row names. A wrong import fails
 * the build here, with the offending class and line.
 */
class ModuleLayeringTest {
    private static JavaClasses classes;

    @BeforeAll
    static void importProductionClasses() {
        classes = ProductionClasses.get();
    }

    /** The module table: each layer is one module's packages. */
    static final ArchRule MODULES = layeredArchitecture().consideringOnlyDependenciesInLayers()
                .layer("common").definedBy("dev.berth.common..")
                .layer("host").definedBy("dev.berth.host..")
                .layer("cri-api").definedBy("dev.berth.cri.v1..", "dev.berth.cri.berth.v1..")
                .layer("cgroups").definedBy("dev.berth.cgroups..")
                .layer("networking").definedBy("dev.berth.networking..")
                .layer("images").definedBy("dev.berth.images..")
                .layer("pod-sandbox").definedBy("dev.berth.podsandbox..")
                .layer("streaming").definedBy("dev.berth.streaming..")
                .layer("cri-server").definedBy("dev.berth.criserver..")
                .optionalLayer("agent").definedBy("dev.berth.agent..")
                .layer("cli").definedBy("dev.berth.cli..")

                .whereLayer("cli").mayNotBeAccessedByAnyLayer()
                .whereLayer("agent").mayOnlyBeAccessedByLayers("cli")
                .whereLayer("cri-server").mayOnlyBeAccessedByLayers("cli")
                .whereLayer("streaming").mayOnlyBeAccessedByLayers("cri-server", "agent", "cli")
                .whereLayer("pod-sandbox").mayOnlyBeAccessedByLayers("cri-server", "cli")
                .whereLayer("images").mayOnlyBeAccessedByLayers("pod-sandbox", "cri-server", "cli")
                .whereLayer("networking").mayOnlyBeAccessedByLayers("pod-sandbox", "cri-server", "cli")
                .whereLayer("cgroups").mayOnlyBeAccessedByLayers("pod-sandbox", "cri-server", "agent", "cli")
                .whereLayer("cri-api").mayOnlyBeAccessedByLayers("cri-server", "agent", "cli")
                .whereLayer("host").mayOnlyBeAccessedByLayers("cgroups", "networking", "images", "pod-sandbox",
                        "streaming", "cri-server", "agent", "cli");

    static final ArchRule NO_CRI_IN_THE_DOMAIN = noClasses().that().resideInAnyPackage("dev.berth.common..", "dev.berth.host..", "dev.berth.cgroups..",
                        "dev.berth.networking..", "dev.berth.images..", "dev.berth.podsandbox..", "dev.berth.streaming..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.berth.cri..", "io.grpc..", "com.google.protobuf..")
                .because("only the CRI server, the agent and the command line translate CRI messages");

    static final ArchRule AGENT_ONLY_THROUGH_THE_CRI = noClasses().that().resideInAPackage("dev.berth.agent..")
                .should().dependOnClassesThat().resideInAnyPackage("dev.berth.podsandbox..", "dev.berth.images..",
                        "dev.berth.networking..", "dev.berth.criserver..")
                .allowEmptyShould(true);

    @Test
    void everyModuleUsesOnlyTheModulesBelowIt() {
        MODULES.check(classes);
    }

    @Test
    void theRuntimeDomainSpeaksNoCriProtobufOrGrpc() {
        NO_CRI_IN_THE_DOMAIN.check(classes);
    }

    @Test
    void theNodeAgentReachesTheRuntimeOnlyThroughTheCri() {
        AGENT_ONLY_THROUGH_THE_CRI.check(classes);
    }
}
